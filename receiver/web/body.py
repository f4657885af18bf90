"""Reading a request body with a cap on its size and on the time it may take to arrive.

The web layer's one reader: the callback route reads its body here (after the token check,
so that nobody unknown can make the relay read anything), and so do the submit route and the
console's forms.
"""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from receiver.errors import BodyTooLarge, BodyTooSlow


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refusing early (by Content-Length) or mid-stream once past `limit` bytes,
    and with 408 when it has not all come within `timeout` seconds."""
    declared = request.headers.get("content-length")
    return await read_limited(request.receive, declared, limit, timeout)


async def read_limited(receive: Receive, declared: str | None, limit: int, timeout: float) -> bytes:
    """`read_body` on bare ASGI; ClientDisconnect when the sender goes away mid-body."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge("request body is over the size limit")
    try:
        async with asyncio.timeout(timeout):
            return await _read(receive, limit)
    except TimeoutError:
        raise BodyTooSlow(f"the request body did not arrive within {timeout:g}s") from None


async def _read(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge("request body is over the size limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
