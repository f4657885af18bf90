"""What one MCP request may hold, checked on its bytes before the SDK parses it.

The SDK parses a body whole into Python objects and then into its models before any
handler runs, so a request's cost is paid before the relay could look at what it asked
for: six listens of 300,000 URIs took the process from 103 to 944 MiB. Here every request
to the door, whatever its method, is read once as bytes and refused past a bound with the
field, the bound and what was sent, before anything is built from it: no method can be
missed. The scan builds nothing but a path and a counter per level, and stops at the first
bound passed, so a hostile body costs at most `MAX_VALUES` steps. It is not a validator:
what is not JSON is left to the SDK's parser to refuse. No I/O and no SDK import, so its
rules are unit-tested alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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

# A mark, or the text of a number or literal (what is neither blank nor a mark).
_TOKEN = re.compile(
    rb'[ \t\r\n]*+(["\[\]{},:]|[^ \t\r\n"\[\]{},:]{1,%d}+)' % (MAX_SCALAR_BYTES + 1)
)
_OPENS, _CLOSES, _SEPARATORS = (b"[", b"{"), (b"]", b"}"), (b",", b":")
_STRING_REST = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)  # after the opening quote
_SHOWN_PARTS = 8


class Refused(Exception):
    """A request past a bound: `detail` in words, the request's `id` when it came before,
    and whether the field is one of its params (the protocol's `Invalid params`)."""

    def __init__(self, detail: str, request_id: str | int | None, in_params: bool) -> None:
        super().__init__(detail)
        self.detail, self.request_id, self.in_params = detail, request_id, in_params


@dataclass
class _Level:
    path: tuple[str, ...]
    is_object: bool
    bound: int
    items: int = 0
    key: str | None = None  # the member being read (objects)
    wants_key: bool = True  # objects: the next string is a key


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
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.levels: list[_Level] = []
        self.values = 0
        self.request_id: str | int | None = None

    def refuse(self, path: tuple[str, ...], words: str) -> Refused:
        return Refused(f"{where(path)}: {words}", self.request_id, path[:1] == ("params",))

    def run(self) -> None:
        body, levels, pos = self.body, self.levels, 0
        while (token := _TOKEN.match(body, pos)) is not None:
            pos, char = token.end(), token.group(1)
            if char == b'"':
                end = self.string(pos)
                if end is None:
                    return  # a string never closed: not JSON, the SDK's parser says so
                pos = end
            elif char in _OPENS:
                self.open(char == b"{")
            elif char in _CLOSES:
                if levels:
                    levels.pop()
            elif char in _SEPARATORS:
                if levels and levels[-1].is_object:
                    levels[-1].wants_key = char == b","
            else:
                self.scalar(char)

    def path(self) -> tuple[str, ...]:
        """Where the value counted last sits."""
        if not self.levels:
            return ()
        level = self.levels[-1]
        part = level.key if level.is_object else str(level.items - 1)
        return (*level.path, part or "?")

    def count(self) -> None:
        """A value starts here: counted in its level and in all."""
        self.values += 1
        if self.levels:
            level = self.levels[-1]
            level.items += 1
            if level.items > level.bound:
                kind = "members" if level.is_object else "items"
                raise self.refuse(
                    level.path,
                    f"at most {level.bound:,} {kind}, and this request sent more than"
                    f" {level.bound:,}",
                )
        if self.values > MAX_VALUES:
            raise self.refuse(
                (),
                f"at most {MAX_VALUES:,} values in all (each item and member counts), and"
                f" this one sent more than {MAX_VALUES:,} (at {where(self.path())})",
            )

    def open(self, is_object: bool) -> None:
        self.count()
        path = self.path()
        if len(self.levels) >= MAX_DEPTH:
            raise self.refuse(
                path, f"at most {MAX_DEPTH} levels of arrays and objects, and this is deeper"
            )
        self.levels.append(_Level(path, is_object, FIELD_ITEMS.get(path, MAX_ITEMS)))

    def string(self, start: int) -> int | None:
        """A string whose text starts at `start`: its end, or None when it never closes."""
        end = _string_end(self.body, start)
        level = self.levels[-1] if self.levels else None
        is_key = level is not None and level.is_object and level.wants_key
        if not is_key:
            self.count()
        if end is None or end - 1 - start > MAX_STRING_BYTES:
            path = level.path if level is not None and is_key else self.path()
            if end is None and len(self.body) - start <= MAX_STRING_BYTES:
                return None
            size = f"{end - 1 - start:,} bytes" if end is not None else "longer"
            raise self.refuse(
                path,
                f"a {'key' if is_key else 'string'} of at most {MAX_STRING_BYTES:,} bytes"
                f" ({MAX_STRING_BYTES // MiB} MiB), and this one is {size}",
            )
        if level is not None and is_key:
            key = _decoded(self.body[start - 1 : end]) if end - start <= 256 else None
            level.key, level.wants_key = key if isinstance(key, str) else "?", False
        elif self._at_id():
            self.note_id(self.body[start - 1 : end])
        return end

    def scalar(self, text: bytes) -> None:
        """A number or literal (its token is cut one past the bound: never read whole)."""
        self.count()
        if len(text) > MAX_SCALAR_BYTES:
            raise self.refuse(
                self.path(),
                f"a number or literal of at most {MAX_SCALAR_BYTES} bytes, and this one is longer",
            )
        if self._at_id():
            self.note_id(text)

    def _at_id(self) -> bool:
        levels = self.levels
        return len(levels) == 1 and levels[0].is_object and levels[0].key == "id"

    def note_id(self, raw: bytes) -> None:
        """The request's id, to answer a refusal with it."""
        found = _decoded(raw)
        if isinstance(found, str | int) and not isinstance(found, bool):
            self.request_id = found


def _string_end(body: bytes, start: int) -> int | None:
    """The end (past its closing quote) of a string whose text starts at `start`, looked for
    within MAX_STRING_BYTES and one past: None when it does not close there."""
    quote = body.find(b'"', start)
    if quote != -1 and body.find(b"\\", start, quote) == -1:
        return quote + 1  # no escape before the first quote: memchr twice, the usual case
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
