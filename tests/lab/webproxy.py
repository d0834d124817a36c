#!/usr/bin/env python3
"""webproxy.py PORT NETNS_FILE TARGET_PORT — lets a browser or Prometheus on
this machine reach the lab collector's HTTP endpoint, which listens on the
loopback of the collector's own namespace ("coll"), without routing the
lab to the host: it listens on the host's 127.0.0.1:PORT, then enters the
namespace (setns) so that every connection it opens goes to coll's
127.0.0.1:TARGET_PORT, and copies bytes both ways. Runs until killed."""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, target):
    try:
        up = socket.create_connection(("127.0.0.1", target), timeout=5)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    t = threading.Thread(target=pipe, args=(up, conn), daemon=True)
    t.start()
    pipe(conn, up)
    t.join()
    conn.close()
    up.close()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: webproxy.py PORT NETNS_FILE TARGET_PORT")
    port, nsfile, target = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(64)
    # The listening socket stays in the host's namespace; sockets made
    # from here on belong to the lab collector's.
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(nsfile, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit("setns %s: %s" % (nsfile, os.strerror(ctypes.get_errno())))
    os.close(fd)
    print("webproxy: http://127.0.0.1:%d/ -> the lab collector's 127.0.0.1:%d" % (port, target),
          flush=True)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, target), daemon=True).start()


if __name__ == "__main__":
    main()
