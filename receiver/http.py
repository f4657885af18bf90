"""Small HTTP helpers shared by the routes: JSON errors, capped body reads, admin auth."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


class Json(JSONResponse):
    """A JSON answer rendered by orjson (a sixth of the standard library's time)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, code: str, detail: str, **extra: Any) -> Json:
    return Json({"error": code, "detail": detail, **extra}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing early (by Content-Length) or mid-stream once past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def is_admin(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
