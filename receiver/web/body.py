"""Reading a request body with a cap on its size and on the time it may take to arrive.

The web layer's one reader: the callback route reads its body here (after the token check,
so that nobody unknown can make the relay read anything), and so do the submit route and the
console's forms.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from receiver.adapters.jsonbody import load_json
from receiver.errors import BodyTooLarge, BodyTooSlow, MalformedRequest


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refusing early (by Content-Length) or mid-stream once past `limit` bytes,
    and with 408 when it has not all come within `timeout` seconds."""
    declared = request.headers.get("content-length")
    return await read_limited(request.receive, declared, limit, timeout)


async def read_json(request: Request, limit: int, timeout: float) -> Any:
    """A JSON body under `read_body`'s caps. A client gone before its body was in gets a
    400 that nobody reads: nothing was done for it."""
    try:
        return load_json(await read_body(request, limit, timeout))
    except ClientDisconnect:
        raise MalformedRequest("the client went away before its body was in") from None


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
