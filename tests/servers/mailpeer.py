#!/usr/bin/env python3
"""mailpeer.py — tiny misbehaving mail servers on 127.0.0.1 for the dialog
tests (tests/integration/probe_mail_peers.sh). Real servers (mail-up) cover
the good paths; these cover what real servers do only when broken.

Usage: mailpeer.py MODE PORT [--cert PEM --key KEY] [--ready FILE]

Modes (the result the probe must report in brackets):
  garbage            sends an SSH banner instead of a mail greeting
                     [proto_bad_greeting]
  hugeline           sends 100000 bytes without a line end
                     [proto_bad_greeting]
  stall              accepts and never sends anything           [proto_timeout]
  nul                sends "* OK hel\\0lo" / "+OK\\0" / "220 \\0"   [proto_bad_greeting]
  imap-close         IMAP greeting, closes on CAPABILITY         [proto_closed]
  imap-nostarttls    IMAP without STARTTLS             [proto_starttls_unsupported]
  imap-logindisabled implicit TLS (needs --cert/--key): LOGINDISABLED and
                     no AUTH=                                    [auth_unsupported]
  imap-echo          implicit TLS: AUTH=PLAIN, then refuses the credentials
                     with a NO that echoes everything the client sent
                     [auth_failed, and the password must not leak]
  pop3-nostls        POP3 whose CAPA has no STLS       [proto_starttls_unsupported]
  pop3-close         POP3 greeting, closes on CAPA               [proto_closed]
  smtp-close         SMTP banner, closes on EHLO                 [proto_closed]
  smtp-554           "554 no service" banner                     [proto_bad_greeting]
  smtp-multiline     a 3-line 220 banner, then a normal plain dialog [ok]
  smtp-echo          implicit TLS: AUTH PLAIN LOGIN offered, then a 535 that
                     echoes what the client sent
                     [auth_failed, and the password must not leak]
  http-stall         TLS (needs --cert/--key), reads the request, never
                     answers                                     [proto_timeout]
  http-close         TLS, half a response head, then closes      [proto_closed]
  http-hugeline      TLS, a status line and a 20000-byte field   [proto_bad_greeting]
  http-interim       TLS, "100 Continue", then a 503 with Server  [http_status]
The login modes accept only the credentials given with --expect-user and
--expect-password-file, so a success proves the client encoded them right:
  imap-login         implicit TLS, no AUTH=: the LOGIN command with quoted
                     strings                                      [ok]
  pop3-sasl          implicit TLS, CAPA without USER: AUTH PLAIN  [ok]
  smtp-login         implicit TLS, only AUTH LOGIN offered        [ok]

Each connection is served by its own thread. With --ready FILE, FILE is
written once the socket listens. Runs until killed.
"""
import argparse
import os
import socket
import ssl
import sys
import threading

HOST = "127.0.0.1"
HUGE = 100000  # far beyond the dialogs' 4 KiB line bound


def lines(f):
    """Yields the client's lines (bytes, CRLF stripped) until EOF."""
    while True:
        line = f.readline(65536)
        if not line:
            return
        yield line.rstrip(b"\r\n")


def send(conn, text):
    conn.sendall(text if isinstance(text, bytes) else text.encode())


EXPECT = {"user": None, "password": None}


def creds_ok(user, password):
    return user == EXPECT["user"] and password == EXPECT["password"]


def imap_unquote(s):
    """Parses one IMAP quoted string at the start of s; returns (text, rest)."""
    if not s.startswith('"'):
        return None, s
    out, i = [], 1
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), s[i + 1:].lstrip(" ")
        out.append(c)
        i += 1
    return None, s


def b64d(s):
    import base64
    try:
        return base64.b64decode(s, validate=True).decode()
    except Exception:
        return None


def imap_tag(line):
    return line.split(b" ", 1)[0].decode(errors="replace")


def serve(mode, conn):
    f = conn.makefile("rb")
    if mode == "garbage":
        send(conn, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        for _ in lines(f):
            pass
    elif mode == "hugeline":
        send(conn, b"* OK " + b"x" * HUGE)
        for _ in lines(f):
            pass
    elif mode == "stall":
        for _ in lines(f):
            pass
    elif mode == "nul":
        send(conn, b"* OK hel\0lo\r\n+OK\0\r\n220 \0\r\n")
        for _ in lines(f):
            pass
    elif mode == "imap-close":
        send(conn, "* OK IMAP4rev1 ready\r\n")
        for line in lines(f):
            if b"CAPABILITY" in line.upper():
                return
    elif mode in ("imap-nostarttls", "imap-logindisabled", "imap-echo"):
        caps = {
            "imap-nostarttls": "IMAP4rev1 AUTH=PLAIN",
            "imap-logindisabled": "IMAP4rev1 LOGINDISABLED",
            "imap-echo": "IMAP4rev1 AUTH=PLAIN",
        }[mode]
        send(conn, "* OK [CAPABILITY %s] ready\r\n" % caps)
        pending = None  # tag of an AUTHENTICATE waiting for its response
        for line in lines(f):
            if pending is not None:
                send(conn, "%s NO [AUTHENTICATIONFAILED] you sent: %s\r\n"
                     % (pending, line.decode(errors="replace")))
                pending = None
                continue
            tag = imap_tag(line)
            cmd = line.upper().split(b" ")
            verb = cmd[1] if len(cmd) > 1 else b""
            if verb == b"CAPABILITY":
                send(conn, "* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
            elif verb == b"LOGOUT":
                send(conn, "* BYE bye\r\n%s OK bye\r\n" % tag)
                return
            elif verb == b"AUTHENTICATE" and len(cmd) == 3:
                send(conn, "+ \r\n")
                pending = tag
            else:
                # Echo the whole command back, credentials included: the
                # probe must keep them out of its result.
                send(conn, "%s NO [AUTHENTICATIONFAILED] you sent: %s\r\n"
                     % (tag, line.decode(errors="replace")))
    elif mode == "imap-login":
        send(conn, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
        for line in lines(f):
            tag = imap_tag(line)
            text = line.decode(errors="replace")
            verb = text.split(" ")[1].upper() if " " in text else ""
            if verb == "CAPABILITY":
                send(conn, "* CAPABILITY IMAP4rev1\r\n%s OK done\r\n" % tag)
            elif verb == "LOGIN":
                user, rest = imap_unquote(text.split(" ", 2)[2])
                password, rest = imap_unquote(rest)
                ok = creds_ok(user, password) and rest == ""
                send(conn, "%s %s\r\n" % (tag, "OK logged in" if ok
                                          else "NO [AUTHENTICATIONFAILED] no"))
            elif verb == "LOGOUT":
                send(conn, "* BYE bye\r\n%s OK bye\r\n" % tag)
                return
            else:
                send(conn, "%s BAD what\r\n" % tag)
    elif mode == "pop3-sasl":
        send(conn, "+OK POP3 ready\r\n")
        for line in lines(f):
            text = line.decode(errors="replace")
            verb = text.split(" ")[0].upper()
            if verb == "CAPA":
                send(conn, "+OK\r\nSASL PLAIN\r\nUIDL\r\n.\r\n")
            elif verb == "AUTH" and text.upper().startswith("AUTH PLAIN "):
                blob = b64d(text.split(" ")[2]) or ""
                parts = blob.split("\0")
                ok = len(parts) == 3 and parts[0] == "" and creds_ok(parts[1], parts[2])
                send(conn, "+OK in\r\n" if ok else "-ERR [AUTH] no\r\n")
            elif verb == "QUIT":
                send(conn, "+OK bye\r\n")
                return
            else:
                send(conn, "-ERR no\r\n")
    elif mode == "smtp-login":
        send(conn, "220 peer.test ESMTP\r\n")
        step, user = 0, None
        for line in lines(f):
            text = line.decode(errors="replace")
            if step == 1:
                user, step = b64d(text), 2
                send(conn, "334 UGFzc3dvcmQ6\r\n")
                continue
            if step == 2:
                step = 0
                ok = creds_ok(user, b64d(text))
                send(conn, "235 2.7.0 ok\r\n" if ok else "535 5.7.8 no\r\n")
                continue
            verb = text.split(" ")[0].upper()
            if verb == "EHLO":
                send(conn, "250-peer.test\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n")
            elif text.upper() == "AUTH LOGIN":
                step = 1
                send(conn, "334 VXNlcm5hbWU6\r\n")
            elif verb == "QUIT":
                send(conn, "221 bye\r\n")
                return
            else:
                send(conn, "502 no\r\n")
    elif mode in ("pop3-nostls", "pop3-close"):
        send(conn, "+OK POP3 ready\r\n")
        for line in lines(f):
            verb = line.upper().split(b" ")[0]
            if verb == b"CAPA":
                if mode == "pop3-close":
                    return
                send(conn, "+OK\r\nUSER\r\nUIDL\r\n.\r\n")
            elif verb == b"QUIT":
                send(conn, "+OK bye\r\n")
                return
            else:
                send(conn, "-ERR no\r\n")
    elif mode in ("smtp-close", "smtp-554", "smtp-multiline", "smtp-echo"):
        if mode == "smtp-554":
            send(conn, "554 5.3.2 no SMTP service here\r\n")
        elif mode == "smtp-multiline":
            send(conn, "220-peer.test ESMTP\r\n220-Unauthorised use prohibited\r\n220 ready\r\n")
        else:
            send(conn, "220 peer.test ESMTP\r\n")
        login = 0  # AUTH LOGIN steps left
        for line in lines(f):
            verb = line.upper().split(b" ")[0]
            if login > 0:
                login -= 1
                if login > 0:
                    send(conn, "334 UGFzc3dvcmQ6\r\n")
                else:
                    send(conn, "535 5.7.8 you sent %s\r\n" % line.decode(errors="replace"))
                continue
            if verb in (b"EHLO", b"HELO"):
                if mode == "smtp-close":
                    return
                ext = "250-AUTH PLAIN LOGIN\r\n" if mode == "smtp-echo" else ""
                send(conn, "250-peer.test\r\n%s250 8BITMIME\r\n" % ext)
            elif verb == b"AUTH":
                if line.upper().startswith(b"AUTH LOGIN"):
                    login = 2
                    send(conn, "334 VXNlcm5hbWU6\r\n")
                else:
                    send(conn, "535 5.7.8 Authentication failed for %s\r\n"
                         % line.decode(errors="replace"))
            elif verb == b"QUIT":
                send(conn, "221 2.0.0 bye\r\n")
                return
            else:
                send(conn, "502 5.5.1 no\r\n")
    elif mode.startswith("http-"):
        for line in lines(f):
            if line == b"":
                break
        if mode == "http-close":
            send(conn, "HTTP/1.1 200 OK\r\nServer: peer\r\n")
            return
        if mode == "http-hugeline":
            send(conn, b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n")
        elif mode == "http-interim":
            send(conn, "HTTP/1.1 100 Continue\r\n\r\n"
                 "HTTP/1.1 503 Service Unavailable\r\nServer: peer\r\n"
                 "Content-Length: 0\r\n\r\n")
        for _ in lines(f):
            pass
    else:
        raise SystemExit("mailpeer: unknown mode " + mode)


def handle(mode, conn, ctx):
    try:
        if ctx is not None:
            conn = ctx.wrap_socket(conn, server_side=True)
        serve(mode, conn)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ready")
    ap.add_argument("--expect-user")
    ap.add_argument("--expect-password-file")
    a = ap.parse_args()
    EXPECT["user"] = a.expect_user
    if a.expect_password_file:
        with open(a.expect_password_file) as fp:
            EXPECT["password"] = fp.read()
    tls_modes = ("imap-logindisabled", "imap-echo", "smtp-echo", "imap-login", "pop3-sasl",
                 "smtp-login", "http-stall", "http-close", "http-hugeline", "http-interim")
    ctx = None
    if a.mode in tls_modes:
        if not (a.cert and a.key):
            raise SystemExit("mailpeer: mode %s needs --cert and --key" % a.mode)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, a.port))
    s.listen(16)
    if a.ready:
        with open(a.ready, "w") as fp:
            fp.write(str(os.getpid()))
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(a.mode, conn, ctx), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
