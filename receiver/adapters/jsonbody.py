"""Decoding a JSON body that came from outside: one rule for every door (CometAPI's
callbacks and answers, the admin API, the console)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from receiver.errors import ParseError


def load_json(body: bytes) -> Any:
    """Decode a JSON body, turning every failure into a ParseError with a reason."""
    try:
        # orjson is several times faster and accepts a subset of what json does; whatever
        # it refuses, the standard library decides, so the accepted bodies do not change.
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ParseError("body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"body is not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError:
        # int() refuses numbers over 4300 digits (CVE-2020-10735 limit) with a plain ValueError.
        raise ParseError("body has a number too long to read") from None
