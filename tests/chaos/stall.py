#!/usr/bin/env python3
"""stall.py — COUNT connections to HOST:PORT that open and stall, for
tests/chaos/test_flood.sh. Half say nothing at all; half send the first
bytes of a ZeroMQ greeting (ZMTP 3 signature) and stop there, which a
peer must not wait for forever. Writes READYFILE (the number opened) and
holds them until killed.

Usage: stall.py HOST PORT COUNT READYFILE
"""
import socket
import sys
import threading

host, port, count, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
held = []
for i in range(count):
    s = socket.socket()
    try:
        s.connect((host, port))
        if i % 2:
            s.send(b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f")  # signature, no version
        held.append(s)
    except OSError as e:
        print(f"stall.py: connection {i}: {e}", file=sys.stderr)
        break
with open(ready, "w") as f:
    f.write(str(len(held)))
threading.Event().wait()
