#!/usr/bin/env python3
"""recorder.py LISTEN_PORT TARGET_PORT CAPTURE_FILE

A TCP relay on 127.0.0.1 that records the wire: every connection to
LISTEN_PORT is forwarded to 127.0.0.1:TARGET_PORT, and every byte in either
direction is appended to CAPTURE_FILE as it passes (flushed at once, so a
test can read it while the relay runs). For tests that must show what a
peer sent, when tcpdump is not there or not allowed (no root, no capture
on lo). Prints "ready" on stdout once it listens.
"""
import asyncio
import sys


async def pump(reader, writer, capture):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            capture.write(data)
            capture.flush()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    listen, target, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    capture = open(path, "ab", buffering=0)

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, sw, capture), pump(sr, cw, capture))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
