"""What one MCP request may hold, checked on its bytes before the SDK parses it.

The SDK builds a body whole into objects before any handler runs (six listens of 300,000
URIs took the process from 103 to 944 MiB), so every request is scanned once as bytes and
refused at the first bound passed: a hostile body costs at most `MAX_VALUES` steps. Not a
validator: what is not JSON is left to the SDK's parser. No I/O, no SDK import.
"""

from __future__ import annotations

import json
import re

MiB = 1024 * 1024
# A request's body, in bytes as sent: a tool's arguments with a small data: URI fit; a
# bigger file goes by URL (or Runway's uploads, docs/api-and-cli.md), not inside JSON-RPC.
MAX_BODY_BYTES = 4 * MiB
MAX_STRING_BYTES = 1 * MiB  # one string (or key), in bytes as sent, escapes included
MAX_DEPTH = 32  # levels of arrays and objects, the API's own JSON rule
MAX_ITEMS = 1_000  # one array's items, or one object's members
MAX_VALUES = 10_000  # values in the whole request (each item and member counts)
MAX_SCALAR_BYTES = 64  # a number, true, false or null
# Fields with a bound of their own, tighter than MAX_ITEMS: a listen's resources.
FIELD_ITEMS: dict[tuple[str, ...], int] = {
    ("params", "notifications", "resourceSubscriptions"): 100
}

# One token after blanks; which group matched says what it is (`lastindex`): a quote, an
# opening, a closing, a separator, a number or literal one past the bound (never read whole),
# or (no group) one within it.
_SCALAR = rb'[^ \t\r\n"\[\]{},:]'
_TOKEN = re.compile(
    rb'[ \t\r\n]*+(?:(")|(\[)|(\{)|([\]}])|(,)|(:)|(%s{%d})|%s{1,%d}+)'
    % (_SCALAR, MAX_SCALAR_BYTES + 1, _SCALAR, MAX_SCALAR_BYTES)
)
_QUOTE, _ARRAY, _OBJECT, _CLOSE, _COMMA, _COLON, _LONG = range(1, 8)
_STRING_REST = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)  # after the opening quote
_SHOWN_PARTS = 8


class Refused(Exception):
    """A request past a bound: `detail` in words, the request's `id` when it came before,
    and whether the field is one of its params (the protocol's `Invalid params`)."""

    def __init__(self, detail: str, request_id: str | int | None, in_params: bool) -> None:
        super().__init__(detail)
        self.detail, self.request_id, self.in_params = detail, request_id, in_params


class _Level:
    """One array or object being read."""

    __slots__ = ("bound", "is_object", "items", "key", "path", "wants_key")

    def __init__(self, path: tuple[str, ...], is_object: bool, bound: int) -> None:
        self.path, self.is_object, self.bound = path, is_object, bound
        self.items = 0
        self.key: str | None = None  # the member being read (objects)
        self.wants_key = is_object  # objects: the next string is a key

    def child(self) -> tuple[str, ...]:
        """Where the value counted last sits."""
        part = (self.key or "?") if self.is_object else str(self.items - 1)
        return (*self.path, part)


def where(path: tuple[str, ...]) -> str:
    """A field as `params.notifications.resourceSubscriptions`, short enough to show."""
    parts = [part[:64] for part in path]
    if len(parts) > _SHOWN_PARTS:
        parts = [*parts[: _SHOWN_PARTS - 2], "...", parts[-1]]
    return ".".join(parts) or "the request"


def body_refusal(declared: int | None) -> str:
    """The words for a body over MAX_BODY_BYTES (`declared`: its Content-Length)."""
    sent = (
        f"this one declared {declared:,} bytes"
        if declared is not None and declared > MAX_BODY_BYTES
        else f"more than {MAX_BODY_BYTES:,} bytes of this one arrived"
    )
    return (
        f"the request body: at most {MAX_BODY_BYTES:,} bytes ({MAX_BODY_BYTES // MiB} MiB),"
        f" and {sent}; pass a large file by URL, not inside the request"
    )


class _Scan:
    """One pass over the bytes, a step a token: the loop is written for speed (a hostile
    request within the bounds is 10,000 values, each a step)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.levels: list[_Level] = []
        self.values = 0
        self.request_id: str | int | None = None

    def refuse(self, path: tuple[str, ...], words: str) -> Refused:
        return Refused(f"{where(path)}: {words}", self.request_id, path[:1] == ("params",))

    def run(self) -> None:
        body, levels, match, find = self.body, self.levels, _TOKEN.match, self.body.find
        top: _Level | None = None
        pos = 0
        while (token := match(body, pos)) is not None:
            pos, kind = token.end(), token.lastindex
            if kind == _COMMA:
                if top is not None and top.is_object:
                    top.wants_key = True
                continue
            if kind == _COLON:
                continue
            if kind == _CLOSE:
                if levels:
                    levels.pop()
                top = levels[-1] if levels else None
                continue
            if kind == _QUOTE and top is not None and top.wants_key:
                pos = self.key(top, pos)
                if pos < 0:
                    return
                continue
            # A value starts: counted in its level and in all.
            self.values += 1
            if top is not None:
                top.items += 1
                if top.items > top.bound:
                    raise self.too_many(top)
            if self.values > MAX_VALUES:
                raise self.too_many_values(top)
            if kind == _QUOTE:
                quote = find(b'"', pos)
                if quote - pos <= MAX_STRING_BYTES and find(b"\\", pos, quote) == -1 <= quote:
                    end = quote + 1  # no escape before the first quote: the usual case
                else:
                    end = self.string(top, pos)
                    if end < 0:
                        return
                if len(levels) == 1 and top is not None and top.key == "id":
                    self.note_id(body[pos - 1 : end])
                pos = end
            elif kind in (_ARRAY, _OBJECT):
                path = top.child() if top is not None else ()
                if len(levels) >= MAX_DEPTH:
                    raise self.refuse(
                        path,
                        f"at most {MAX_DEPTH} levels of arrays and objects, and this is deeper",
                    )
                top = _Level(path, kind == _OBJECT, FIELD_ITEMS.get(path, MAX_ITEMS))
                levels.append(top)
            elif kind == _LONG:
                raise self.refuse(
                    top.child() if top is not None else (),
                    f"a number or literal of at most {MAX_SCALAR_BYTES} bytes, and this one is"
                    " longer",
                )
            elif len(levels) == 1 and top is not None and top.key == "id":
                self.note_id(token.group().strip())

    def too_many(self, level: _Level) -> Refused:
        kind = "members" if level.is_object else "items"
        return self.refuse(
            level.path,
            f"at most {level.bound:,} {kind}, and this request sent more than {level.bound:,}",
        )

    def too_many_values(self, level: _Level | None) -> Refused:
        at = where(level.child()) if level is not None else "the request"
        return self.refuse(
            (),
            f"at most {MAX_VALUES:,} values in all (each item and member counts), and this one"
            f" sent more than {MAX_VALUES:,} (at {at})",
        )

    def key(self, level: _Level, start: int) -> int:
        """A member's key whose text starts at `start`: its end, or -1 when it never
        closes."""
        end = self.string(None, start, level)
        if end >= 0:
            raw = self.body[start : end - 1] if end - start <= 256 else b""
            key = raw.decode("utf-8", "replace") if b"\\" not in raw else _decoded(b'"%s"' % raw)
            level.key, level.wants_key = key if isinstance(key, str) and key else "?", False
        return end

    def string(self, top: _Level | None, start: int, of_key: _Level | None = None) -> int:
        """The end (past its closing quote) of a string whose text starts at `start`;
        refused past MAX_STRING_BYTES; -1 when it never closes (not JSON: the SDK's parser
        says so)."""
        end = _string_end(self.body, start)
        if end is not None and end - 1 - start <= MAX_STRING_BYTES:
            return end
        if end is None and len(self.body) - start <= MAX_STRING_BYTES:
            return -1
        if of_key is not None:
            path, what = of_key.path, "key"
        else:
            path, what = (top.child() if top is not None else ()), "string"
        size = f"{end - 1 - start:,} bytes" if end is not None else "longer"
        raise self.refuse(
            path,
            f"a {what} of at most {MAX_STRING_BYTES:,} bytes ({MAX_STRING_BYTES // MiB} MiB),"
            f" and this one is {size}",
        )

    def note_id(self, raw: bytes) -> None:
        """The request's id, to answer a refusal with it."""
        found = _decoded(raw)
        if isinstance(found, str | int) and not isinstance(found, bool):
            self.request_id = found


def _string_end(body: bytes, start: int) -> int | None:
    """The end (past its closing quote) of a string whose text starts at `start`, looked for
    within MAX_STRING_BYTES and one past when it has escapes: None when it does not close."""
    quote = body.find(b'"', start)
    if quote != -1 and body.find(b"\\", start, quote) == -1:
        return quote + 1  # no escape before the first quote: memchr twice
    found = _STRING_REST.match(body, start, start + MAX_STRING_BYTES + 2)
    return found.end() if found is not None else None


def _decoded(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def check(body: bytes) -> None:
    """Refused for the first bound the request passes, before anything is built from it."""
    _Scan(body).run()
