#!/usr/bin/env python3
"""badpeer.py — tiny misbehaving peers on 127.0.0.1 for probe tests.

Usage: badpeer.py MODE PORT [--ready FILE]

TCP modes (listen on 127.0.0.1:PORT):
  stall      accept and never send anything            -> proto_timeout,
                                                           tls_handshake_failed (timeout)
  close      accept and close at once                  -> proto_closed,
                                                           tls_handshake_failed
  reset      accept, read what the client sends, then reset (RST)
                                                        -> tcp_reset
  plaintext  accept and greet in plain text ("* OK plain IMAP\\r\\n"),
             as a TLS port that is really a plaintext port -> tls_handshake_failed
  longline   accept and send a line of 100000 bytes     -> proto_bad_greeting
  backlog    listen with a full accept queue, so new SYNs are dropped
                                                        -> tcp_timeout
UDP modes (DNS on 127.0.0.1:PORT):
  servfail   answer every query with SERVFAIL          -> dns_servfail
  refused    answer every query with REFUSED           -> dns_refused
  silent     read queries and never answer             -> dns_timeout

With --ready FILE, FILE is created once the socket listens, so a test can
wait for it instead of sleeping. Runs until killed.
"""
import os
import socket
import struct
import sys
import threading

HOST = "127.0.0.1"
LONG_LINE = 100000  # far beyond any line limit of the probes (64 KiB max)


def ready(path):
    if path:
        with open(path, "w") as f:
            f.write(str(os.getpid()))


def drain_and_close(c):
    """Reads what the client sends until it closes, then closes too."""
    c.settimeout(30)
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()


def serve_tcp(mode, port, ready_file):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    if mode == "backlog":
        # Linux drops SYNs once the accept queue holds more than backlog
        # connections; one connection of our own fills a queue of 0.
        s.listen(0)
        fillers = []
        for _ in range(2):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect((HOST, port))
            except BlockingIOError:
                pass
            fillers.append(c)
        ready(ready_file)
        threading.Event().wait()
        return
    s.listen(64)
    ready(ready_file)
    held = []
    while True:
        c, _ = s.accept()
        if mode == "stall":
            held.append(c)  # keep it open, say nothing
        elif mode == "close":
            # FIN now, but close only after the client is gone: closing
            # with its ClientHello or command unread would send RST
            # instead (tcp_reset, a race the tests lost now and then).
            c.shutdown(socket.SHUT_WR)
            threading.Thread(target=drain_and_close, args=(c,), daemon=True).start()
        elif mode == "reset":
            c.settimeout(2)
            try:
                c.recv(4096)
            except OSError:
                pass
            # SO_LINGER with a zero timeout makes close() send RST.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        elif mode == "plaintext":
            try:
                c.sendall(b"* OK plain IMAP\r\n")
            except OSError:
                pass
            held.append(c)
        elif mode == "longline":
            try:
                c.sendall(b"* OK " + b"x" * LONG_LINE + b"\r\n")
            except OSError:
                pass
            held.append(c)
        else:
            sys.exit("unknown mode " + mode)


def serve_udp(mode, port, ready_file):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, port))
    ready(ready_file)
    rcode = {"servfail": 2, "refused": 5}.get(mode)
    while True:
        q, addr = s.recvfrom(4096)
        if mode == "silent" or len(q) < 12:
            continue
        # Echo the question with QR set, RA set and the rcode; no records.
        ident, flags, qd = struct.unpack("!HHH", q[:6])
        flags = 0x8000 | (flags & 0x0100) | 0x0080 | rcode
        s.sendto(struct.pack("!HHHHHH", ident, flags, qd, 0, 0, 0) + q[12:], addr)


def main():
    args = sys.argv[1:]
    ready_file = None
    if "--ready" in args:
        i = args.index("--ready")
        ready_file = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    mode, port = args[0], int(args[1])
    if mode in ("servfail", "refused", "silent"):
        serve_udp(mode, port, ready_file)
    else:
        serve_tcp(mode, port, ready_file)


if __name__ == "__main__":
    main()
