#!/usr/bin/env python3
"""mailbox.py — test helper for the mailflow check: puts messages into a
mailbox through real SMTP and counts what IMAP sees there.

  mailbox.py send SMTP_PORT TO SUBJECT [HEADER: VALUE]...
      sends one message to TO through the plain SMTP port on 127.0.0.1
  mailbox.py count IMAPS_PORT CA USER PWFILE FOLDER SUBJECT
      prints how many messages in FOLDER have SUBJECT in their Subject
  mailbox.py wait IMAPS_PORT CA USER PWFILE FOLDER SUBJECT N
      waits (up to 15 s) until that count is at least N; exits 1 if not
  mailbox.py logtime DOVECOT_LOG MESSAGE_ID
      prints the unix time of dovecot's "saved mail to" (or sieve's "stored mail into") line
"""
import imaplib
import smtplib
import ssl
import sys
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def send(port, to, subject, headers):
    msg = EmailMessage()
    msg["From"] = "tester@mail.test"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate()
    msg["Message-ID"] = make_msgid(domain="test.invalid")
    for h in headers:
        name, value = h.split(":", 1)
        msg[name.strip()] = value.strip()
    msg.set_content("a message the mailflow check must not touch\n")
    with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as s:
        s.send_message(msg)


def count(port, ca, user, pwfile, folder, subject):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    with open(pwfile) as f:
        pw = f.readline().rstrip("\n")
    with imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx, timeout=10) as m:
        m.login(user, pw)
        m.select('"%s"' % folder, readonly=True)
        typ, data = m.search(None, "SUBJECT", '"%s"' % subject)
        return len(data[0].split()) if typ == "OK" else -1


def logtime(log, msgid):
    # "Dec 04 16:19:24 lmtp(probe@mail.test)<...>: Info: msgid=<...>: saved mail to INBOX"
    year = datetime.now().year
    with open(log, errors="replace") as f:
        for line in f:
            if msgid in line and ("saved mail to" in line or "stored mail into" in line):
                t = datetime.strptime("%d %s" % (year, line[:15]), "%Y %b %d %H:%M:%S")
                return t.timestamp()
    return None


def main():
    cmd = sys.argv[1]
    if cmd == "send":
        send(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif cmd == "count":
        print(count(*sys.argv[2:8]))
    elif cmd == "wait":
        want = int(sys.argv[8])
        deadline = time.time() + 15
        while time.time() < deadline:
            if count(*sys.argv[2:8]) >= want:
                return 0
            time.sleep(0.2)
        return 1
    elif cmd == "logtime":
        t = logtime(sys.argv[2], sys.argv[3])
        if t is None:
            return 1
        print("%.0f" % t)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
