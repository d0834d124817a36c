#!/usr/bin/env python3
"""freeport.py [N] [--udp] - print N distinct loopback ports, free now.

The ports come from below the kernel's ephemeral range
(net.ipv4.ip_local_port_range), not from bind(port 0), which hands out
ephemeral ports: between this check and the test's own bind, an
outgoing connection anywhere on the machine may take an ephemeral port
as its source port, and the test's listener then fails with "address in
use". CI runs the sanitizer tree's tests beside the normal tree's, with
thousands of connections a minute. (Linux gives connect() and bind(0)
ports of opposite parity, which makes that rare, not impossible: it
falls back to the other parity when one runs short.)
With --udp every port is free for UDP too (nsd binds both on one port).
"""
import random
import socket
import sys


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free(port, udp):
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    socks = []
    try:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def main():
    args = [a for a in sys.argv[1:] if a != "--udp"]
    udp = "--udp" in sys.argv[1:]
    count = int(args[0]) if args else 1
    low, high = 10000, ephemeral_low() - 1
    if high - low < 1000:  # an unusual range: fall back to the kernel's choice
        low = high = 0
    ports = []
    for _ in range(count * 100):
        if len(ports) == count:
            break
        if low == 0:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
        else:
            port = random.randint(low, high)
        if port not in ports and free(port, udp):
            ports.append(port)
    if len(ports) != count:
        sys.exit("freeport: could not find %d free ports" % count)
    print(" ".join(map(str, ports)))


if __name__ == "__main__":
    main()
