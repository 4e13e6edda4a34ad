"""Raw bytes to a test server and its answer taken apart by hand: no HTTP client in between."""

from __future__ import annotations

import asyncio


async def raw_exchange(client, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are to the test server: (status, headers with lower-cased names,
    body). Status 0 when the server hung up without an answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(data)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    if not response:
        return 0, {}, b""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ", 2)[1]), headers, body


async def raw_request(client, data: bytes) -> tuple[int, bytes]:
    """Send bytes as they are to the test server; (status, body). 0 when the server hung up."""
    status, _, body = await raw_exchange(client, data)
    return status, body
