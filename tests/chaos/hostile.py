#!/usr/bin/env python3
"""hostile.py — many hostile mail servers in one process (asyncio), for
tests/chaos/test_hostile_servers.sh.

Usage: hostile.py COUNT PORTFILE

Listens on COUNT loopback ports, a quarter in each mode, and writes
"MODE PORT" per line to PORTFILE once all listen:
  silent    accept, never send a byte
  trickle   a greeting one byte a second ("220 " then "x"...), never a line end
  endless   an endless line at full speed ("220 " then "x" forever)
  tlsstall  read the ClientHello, answer the first bytes of a TLS record
            (a ServerHello header announcing more) and stall
Runs until killed.
"""
import asyncio
import socket
import sys

MODES = ("silent", "trickle", "endless", "tlsstall")
CHUNK = b"x" * 4096


async def hold(reader):
    # Keep the connection open until the client gives up.
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass


async def serve(mode, reader, writer):
    try:
        if mode == "silent":
            await hold(reader)
        elif mode == "trickle":
            writer.write(b"220 ")
            while True:
                await writer.drain()
                await asyncio.sleep(1)
                writer.write(b"x")
        elif mode == "endless":
            writer.write(b"220 ")
            while True:
                writer.write(CHUNK)
                await writer.drain()
        elif mode == "tlsstall":
            await reader.read(4096)  # the ClientHello
            # Handshake record, TLS 1.2, 16 KiB announced; a ServerHello
            # type and a length, then nothing more.
            writer.write(b"\x16\x03\x03\x40\x00\x02\x00\x00")
            await writer.drain()
            await hold(reader)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main():
    count, portfile = int(sys.argv[1]), sys.argv[2]
    servers, lines = [], []
    for i in range(count):
        mode = MODES[i % len(MODES)]
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        srv = await asyncio.start_server(
            lambda r, w, m=mode: serve(m, r, w), sock=s, backlog=64)
        servers.append(srv)
        lines.append(f"{mode} {port}\n")
    with open(portfile + ".new", "w") as f:
        f.writelines(lines)
    import os
    os.rename(portfile + ".new", portfile)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
