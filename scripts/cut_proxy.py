"""A loopback TCP proxy that cuts the first streamed reply in the middle, for the smoke script.

``python scripts/cut_proxy.py LISTEN_PORT TARGET_PORT [CUT_AFTER_BYTES]``: every connection is
relayed to ``127.0.0.1:TARGET_PORT``; the first response that is an event stream
(``text/event-stream``) and carries more than ``CUT_AFTER_BYTES`` (default 1500) is closed at
that point, as a flaky network would. Later streams pass untouched, so a client that resumes the
run (Letta Code does, by ``seq_id``) can finish the reply. Each cut is logged on stderr.
With ``CUT_PROXY_LOG=FILE`` the bytes clients send (requests with their bodies) are appended to
FILE, to see exactly what a client asked.
"""

from __future__ import annotations

import asyncio
import os
import sys

_cut_done = False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    log_path = os.environ.get("CUT_PROXY_LOG")
    try:
        while data := await reader.read(65536):
            if log_path:
                with open(log_path, "ab") as log:
                    log.write(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _pipe_response(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut_after: int
) -> None:
    """Relay the server's side; cut the first event stream once it passed ``cut_after`` bytes."""
    global _cut_done
    seen = 0
    streaming = False
    try:
        while data := await reader.read(256):
            if not streaming and b"text/event-stream" in data:
                streaming, seen = True, 0
            writer.write(data)
            await writer.drain()
            seen += len(data)
            if streaming and not _cut_done and seen > cut_after:
                _cut_done = True
                sys.stderr.write(f"cut_proxy: cut a stream after {seen} bytes\n")
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main() -> None:
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    cut_after = int(sys.argv[3]) if len(sys.argv) > 3 else 1500

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        upstream = asyncio.create_task(_pipe(client_r, server_w))
        await _pipe_response(server_r, client_w, cut_after)
        upstream.cancel()
        server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
