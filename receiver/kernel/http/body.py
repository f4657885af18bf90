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

from receiver.kernel.errors import BodyTooLarge, BodyTooSlow, MalformedRequest
from receiver.kernel.http.jsonbody import load_json

# What is read and dropped of a body refused for its size before the answer goes out: a
# socket closed with bytes unread sends a reset, and a client still sending loses the
# answer. Past this much, or this long, the answer goes out anyway, with `Connection: close`.
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refusing early (by Content-Length) or mid-stream once past `limit` bytes,
    and with 408 when it has not all come within `timeout` seconds."""
    declared = request.headers.get("content-length")
    continues = request.headers.get("expect", "").lower() == "100-continue"
    return await read_limited(request.receive, declared, limit, timeout, continues)


async def read_json(request: Request, limit: int, timeout: float) -> Any:
    """A JSON body under `read_body`'s caps. A client gone before its body was in gets a
    400 that nobody reads: nothing was done for it."""
    try:
        return load_json(await read_body(request, limit, timeout))
    except ClientDisconnect:
        raise MalformedRequest("the client went away before its body was in") from None


async def read_limited(
    receive: Receive,
    declared: str | None,
    limit: int,
    timeout: float,
    waits_for_continue: bool = False,
) -> bytes:
    """`read_body` on bare ASGI; ClientDisconnect when the sender goes away mid-body. A body
    over `limit` is read to its end and dropped (up to DRAIN_BYTES, DRAIN_SECONDS) before
    the 413, unless the client waits for `100 Continue` and has sent none of it."""
    if declared and declared.isdigit() and int(declared) > limit:
        refused = BodyTooLarge("request body is over the size limit")
        if not waits_for_continue and int(declared) <= DRAIN_BYTES:
            refused.rest_unread = not await _drain(receive, min(timeout, DRAIN_SECONDS))
        raise refused
    try:
        async with asyncio.timeout(timeout):
            return await _read(receive, limit)
    except TimeoutError:
        raise BodyTooSlow(f"the request body did not arrive within {timeout:g}s") from None
    except BodyTooLarge as refused:
        refused.rest_unread = not await _drain(receive, min(timeout, DRAIN_SECONDS))
        raise


async def _drain(receive: Receive, seconds: float) -> bool:
    """Read and drop the rest of a body, within DRAIN_BYTES and `seconds`: whether it
    came to its end (or the client went away)."""
    dropped = 0
    try:
        async with asyncio.timeout(seconds):
            while dropped <= DRAIN_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return True
                dropped += len(message.get("body", b""))
    except TimeoutError:
        pass
    return False


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
