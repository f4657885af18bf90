"""Large inputs kept once, pure: every `data:` URI of a submitted request is kept apart (the
store's `task_inputs`), and the request keeps a small reference in its place, which is also
what the API and the console show:

    {"data_uri": {"type": "image/png", "bytes": 62914560, "sha256": "<hex>"}}

The submit worker streams the request with the URIs back in place (`json_pieces`). What
stays inline is kept in the task row, which every state change rewrites: at most
`MAX_INLINE_CHARS` of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

REFERENCE = "data_uri"
MAX_DATA_URI_CHARS = 96 * 1024 * 1024  # a base64 data URI of a 64 MB clip is about 86 MB
_HASH_STEP = 1 << 20  # hashed a slice at a time: no whole copy of the text as bytes
_BASE64_MARK = ";base64"
_HEADER_CHARS = 4096  # a data URI's header (before its comma) ends within this
# Text a request keeps inline besides its data URIs: strings and keys by their length, any
# other value as one. A prompt is at most a few thousand; a large input goes as a URI.
MAX_INLINE_CHARS = 1024 * 1024
# Data URIs in one request: each is a row to write at intake and a piece to put back for
# every send; 20,000 are stored in about a second and put back in less (docs/performance.md).
MAX_DATA_URIS = 20_000


def is_data_uri(value: object) -> bool:
    return isinstance(value, str) and value[:5].lower() == "data:" and "," in value[:_HEADER_CHARS]


def reference(uri: str) -> tuple[str, dict[str, Any]]:
    """The URI's digest and the reference the request keeps in its place."""
    digest = hashlib.sha256()
    for start in range(0, len(uri), _HASH_STEP):
        digest.update(uri[start : start + _HASH_STEP].encode("utf-8", "surrogatepass"))
    sha = digest.hexdigest()
    comma = uri.index(",", 0, _HEADER_CHARS)
    header = uri[5:comma]
    media_type = header.split(";", 1)[0].strip().lower() or "text/plain"
    size = len(uri) - comma - 1
    if header.lower().endswith(_BASE64_MARK):
        tail = uri[-2:]
        padding = len(tail) - len(tail.rstrip("="))
        size = size * 3 // 4 - padding
    return sha, {REFERENCE: {"type": media_type, "bytes": max(size, 0), "sha256": sha}}


@dataclass
class TakenOut:
    """The data URIs taken out of a request body before it is validated, each replaced by
    a short stand-in with the same header, so that validation copies no large text;
    `references` turns the stand-ins into references afterwards."""

    uris: dict[str, str] = field(default_factory=dict)  # by digest
    stand_ins: dict[str, dict[str, Any]] = field(default_factory=dict)  # stand-in: reference
    too_large: list[int] = field(default_factory=list)  # sizes over MAX_DATA_URI_CHARS
    inline: dict[str, int] = field(default_factory=dict)  # text kept inline, by top field
    count: int = 0  # data URIs taken out, each time one appears
    _counted: int = 0

    def take_fields(self, payload: dict[str, Any], skip: Collection[str]) -> dict[str, Any]:
        """`take` on each field but those in `skip`, counting what each keeps inline."""
        taken = {}
        for key, value in payload.items():
            if key in skip:
                taken[key] = value
                continue
            before = self._counted
            taken[key] = self.take(value)
            self.inline[key] = self.inline.get(key, 0) + len(key) + self._counted - before
        return taken

    def too_much(self) -> str | None:
        """Why the request holds more than it could keep or send; None: it does not."""
        if self.count > MAX_DATA_URIS:
            return (
                f"the request holds {self.count} data: URIs, over {MAX_DATA_URIS}: send the"
                " rest as https URLs, or in several tasks"
            )
        total = sum(self.inline.values())
        if total <= MAX_INLINE_CHARS:
            return None
        largest = max(self.inline, key=lambda key: self.inline[key])
        return (
            f"{largest[:64]}: holds {self.inline[largest]} characters besides data: URIs; a"
            f" request keeps at most {MAX_INLINE_CHARS} inline (a large input goes as a"
            f" data: URI whose header ends, with its comma, within {_HEADER_CHARS} characters)"
        )

    def take(self, value: Any) -> Any:
        if is_data_uri(value):
            if len(value) > MAX_DATA_URI_CHARS:
                self.too_large.append(len(value))
            self.count += 1
            sha, ref = reference(value)
            self.uris[sha] = value
            stand_in = f"{value[: value.index(',', 0, _HEADER_CHARS)]},{sha}"
            self.stand_ins[stand_in] = ref
            return stand_in
        if isinstance(value, dict):
            self._counted += 1 + sum(len(key) for key in value)
            return {key: self.take(item) for key, item in value.items()}
        if isinstance(value, list):
            self._counted += 1
            return [self.take(item) for item in value]
        self._counted += len(value) if isinstance(value, str) else 1
        return value

    def references(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.stand_ins.get(value, value)
        if isinstance(value, dict):
            return {key: self.references(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.references(item) for item in value]
        return value


def holds_references(value: Any) -> bool:
    """Whether a stored request refers anywhere to a data URI kept apart."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(REFERENCE), dict):
            return True
        return any(holds_references(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_references(item) for item in value)
    return False


# A piece of a request's JSON as it is sent: JSON text as it is (bytes), or the digest of a
# kept data URI (str) whose JSON string goes in that place, read a part at a time.
Piece = bytes | str


def json_pieces(fields: dict[str, Any], kept: Collection[str]) -> list[Piece]:
    """The request's JSON cut where each kept URI goes, so that a send can stream it and no
    buffer holds a whole URI. Joined with each URI in place, they are what `orjson.dumps`
    writes of it put back."""
    pieces: list[Piece] = []
    run = bytearray()  # the JSON text since the last URI: one copy, however many tokens
    text = run.extend

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get(REFERENCE) if len(value) == 1 else None
            if isinstance(ref, dict) and ref.get("sha256") in kept:
                if run:
                    pieces.append(bytes(run))
                    run.clear()
                pieces.append(ref["sha256"])
                return
            text(b"{")
            for index, (key, item) in enumerate(value.items()):
                text((b"," if index else b"") + orjson.dumps(key) + b":")
                walk(item)
            text(b"}")
        elif isinstance(value, list):
            text(b"[")
            for index, item in enumerate(value):
                if index:
                    text(b",")
                walk(item)
            text(b"]")
        else:
            text(orjson.dumps(value))

    walk(fields)
    if run:
        pieces.append(bytes(run))
    return pieces


def json_string_part(part: str, *, first: bool, last: bool) -> bytes:
    """One part of a URI as it goes inside its JSON string: escaped as orjson escapes it,
    with the opening quote on the first part and the closing one on the last."""
    inner = orjson.dumps(part)[1:-1]
    return (b'"' if first else b"") + inner + (b'"' if last else b"")


# What one read of the store brings of the small URIs a send puts back: many URIs in one
# read, and a body's time in its bytes (a read per URI cost ~0.7 ms each: 14 s for 20,000).
BATCH_CHARS = 4 * 1024 * 1024


def next_batch(
    pieces: Sequence[Piece],
    start: int,
    sizes: Mapping[str, tuple[int, int]],
    budget: int = BATCH_CHARS,
) -> list[str]:
    """The digests of the one-part URIs the pieces from `start` on put back, each once, in
    order, as many as `budget` characters hold (always the first): the send's next read."""
    chosen: dict[str, None] = {}
    held = 0
    for index in range(start, len(pieces)):  # no copy of the rest: a batch costs its own
        piece = pieces[index]
        if isinstance(piece, bytes) or piece in chosen:
            continue
        parts, chars = sizes.get(piece, (1, 0))
        if parts != 1:
            continue
        if chosen and held + chars > budget:
            break
        chosen[piece] = None
        held += chars
    return list(chosen)
