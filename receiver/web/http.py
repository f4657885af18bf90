"""Small HTTP helpers shared by the routes: JSON bodies in, JSON answers and errors out,
admin auth."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from receiver.errors import MalformedRequest


class Json(JSONResponse):
    """A JSON answer rendered by orjson (a sixth of the standard library's time)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The one shape of every refusal: a machine-readable code and a sentence for people."""
    return {"error": code, "detail": detail, **extra}


def error(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> Json:
    return Json(error_body(code, detail, **extra), status_code=status, headers=headers)


def is_admin(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def load_json(body: bytes) -> Any:
    """A request's JSON body; MalformedRequest (400) with the reason when it is not one."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses a little that the standard library reads (NaN, lone surrogates):
        # it decides those, so the bodies the relay accepts stay what they were.
        pass
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise MalformedRequest("body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise MalformedRequest(f"body is not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError:
        # int() refuses numbers over 4300 digits (the CVE-2020-10735 limit) with a ValueError.
        raise MalformedRequest("body has a number too long to read") from None
