"""A body that came from outside (every door's, and CometAPI's answers: `load_json`): read
under a cap on its size and time, and decoded as JSON under one rule.

Whatever the rule accepts can be stored, answered and delivered: nested at most `MAX_DEPTH`
deep (orjson writes at most 255 levels, and an event document adds a few), integers within
64 bits (orjson reads bigger ones as floats and refuses to write them), no NaN or infinity
(PostgreSQL's jsonb refuses them), and no NUL in any string or key (PostgreSQL cannot store
it): such a body is refused with a 422 naming the field.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from receiver.kernel.errors import (
    BodyTooLarge,
    BodyTooSlow,
    InvalidRequest,
    MalformedRequest,
    ParseError,
)

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


# --- The JSON rule ------------------------------------------------------------------------

MAX_DEPTH = 32
_SMALLEST = -(2**63)
_LARGEST = 2**64 - 1
# orjson reads an integer outside 64 bits as a float of at least this size; a body with
# such a float is read again by the standard library, which keeps every integer exact for
# the range check. The depth check's walk finds such floats.
_INEXACT = 2.0**63
# What such a float is written with: a number of 19 digits or more, or one with an exponent.
# A number starts the body or follows `:`, `,` or `[`, so only text that does so is looked
# at: an id or a tag in a string (`0b9e5e0a`, `e2e-0`) does not make a body walked. A body
# with no such number, and no more brackets than the levels allowed, is not walked at all (a
# walk costs more than these scans of the bytes, and CometAPI's bodies are small and shallow).
# One search a mark: a pattern that starts with one literal byte is scanned for that byte
# alone, three times faster on a callback than one search for any of the three.
_BIG_NUMBER = rb"[ \t\n\r]*-?(?:[0-9]{19}|[0-9]+(?:\.[0-9]+)?[eE])"
_BIG_FIRST = re.compile(_BIG_NUMBER)
_BIG_AFTER = tuple(re.compile(re.escape(mark) + _BIG_NUMBER) for mark in (b":", b",", b"["))
# JSON can only carry NUL escaped (a raw control character is not JSON), so a body without
# this text holds none, and only a body with it is walked to name the field.
_ESCAPED_NUL = b"\\u0000"
_NUL = "\x00"


def load_json(body: bytes, *, exact_numbers: bool = True, keep_nul: bool = False) -> Any:
    """Decode a JSON body, turning every failure into a ParseError with a reason.

    `exact_numbers=False` is for CometAPI's own answers, whose numbers are only read, never
    stored or sent on as parsed: a huge one there is the parser's to judge, not a reason to
    lose the answer. `keep_nul` (and `exact_numbers=False`) leave NUL in for CometAPI's
    parser, which makes the text it keeps storable (receiver/lifecycle/comet.py)."""
    value = _load(body, exact_numbers)
    if exact_numbers and not keep_nul and _ESCAPED_NUL in body:
        refuse_nul(value)
    return value


def _load(body: bytes, exact_numbers: bool) -> Any:
    try:
        # orjson is several times faster and accepts a subset of what json does; whatever
        # it refuses, the standard library decides under the same rules.
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = _decode(body, exact_numbers)
        check_depth(value)
        return value
    if _plainly_within(body, exact_numbers):
        return value
    if check_depth(value) and exact_numbers:
        value = _decode(body, exact_numbers)
    return value


def _plainly_within(body: bytes, exact_numbers: bool = True) -> bool:
    """Whether the bytes alone show the value within the limits: each level is a bracket,
    and (where numbers are kept exact) no number that may be big."""
    shallow = body.count(b"{") + body.count(b"[") <= MAX_DEPTH
    return shallow and not (exact_numbers and _maybe_big(body))


def _maybe_big(body: bytes) -> bool:
    return _BIG_FIRST.match(body) is not None or any(p.search(body) for p in _BIG_AFTER)


def refuse_nul(value: Any, root: str = "body", *, inside: bool = False) -> None:
    """InvalidRequest naming the first field whose text (a key or a string) holds NUL, as
    `a.b.0.c` from the top (`root` when it is the whole value; `inside`: `root.a.b.0.c`)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, (root,) if inside else ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _NUL in item:
                raise InvalidRequest(f"{_where(path, root)}: must not contain NUL (\\u0000)")
        elif isinstance(item, dict):
            for key, child in item.items():
                if _NUL in key:
                    where = _where((*path, key), root)
                    raise InvalidRequest(f"{where}: a key must not contain NUL (\\u0000)")
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))


def _where(path: tuple[str, ...], root: str) -> str:
    """A field's path, safe to show: each part short, NUL written as its escape."""
    parts = [part[:64].replace(_NUL, "\\u0000") for part in path]
    return ".".join(parts) or root


def check_depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Refuse a value with containers nested deeper than `limit`; whether it holds a float
    that may have been an integer too big for 64 bits."""
    inexact = False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            inexact = inexact or (isinstance(item, float) and abs(item) >= _INEXACT)
            continue
        if depth > limit:
            raise ParseError(f"body is nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children)
    return inexact


def _decode(body: bytes, exact_numbers: bool) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("body is not valid UTF-8") from None
    hooks: dict[str, Any] = {}
    if exact_numbers:
        hooks = {"parse_int": _integer, "parse_constant": _constant, "parse_float": _float}
    try:
        return json.loads(text, **hooks)
    except RecursionError:
        raise ParseError("body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"body is not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:
        # int() refuses numbers over 4300 digits (CVE-2020-10735 limit) with a plain ValueError.
        reason = str(exc) if isinstance(exc, _Refused) else "it has a number too long to read"
        raise ParseError(f"body is refused: {reason}") from None


class _Refused(ValueError):
    """A number the relay could not store or send on as it came."""


def _integer(text: str) -> int:
    number = int(text)
    if not _SMALLEST <= number <= _LARGEST:
        raise _Refused(f"the integer {text[:30]} does not fit in 64 bits")
    return number


def _float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:30]} is out of range")
    return number


def _constant(text: str) -> float:
    raise _Refused(f"{text} is not a JSON number")
