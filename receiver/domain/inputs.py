"""Large inputs kept once: every `data:` URI of a submitted request is taken out of it and
kept apart (the store's `task_inputs`, written once), and the request keeps a small
reference in its place, which is also what the API and the console show:

    {"data_uri": {"type": "image/png", "bytes": 62914560, "sha256": "<hex>"}}

`bytes` is the size of the data the URI carries (decoded, for base64). The submit worker
streams the request with the URIs back in place, a part at a time (`json_pieces`). Pure
functions: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import orjson

REFERENCE = "data_uri"
MAX_DATA_URI_CHARS = 96 * 1024 * 1024  # a base64 data URI of a 64 MB clip is about 86 MB
_HASH_STEP = 1 << 20  # hashed a slice at a time: no whole copy of the text as bytes
_BASE64_MARK = ";base64"


def is_data_uri(value: object) -> bool:
    return isinstance(value, str) and value[:5].lower() == "data:" and "," in value[:4096]


def reference(uri: str) -> tuple[str, dict[str, Any]]:
    """The URI's digest and the reference the request keeps in its place."""
    digest = hashlib.sha256()
    for start in range(0, len(uri), _HASH_STEP):
        digest.update(uri[start : start + _HASH_STEP].encode("utf-8", "surrogatepass"))
    sha = digest.hexdigest()
    comma = uri.index(",", 0, 4096)
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
    a short stand-in with the same header (a validator judges it as it would the URI), so
    that validation copies no large text; `references` turns the stand-ins into references
    afterwards."""

    uris: dict[str, str] = field(default_factory=dict)  # by digest
    stand_ins: dict[str, dict[str, Any]] = field(default_factory=dict)  # stand-in: reference
    too_large: list[int] = field(default_factory=list)  # sizes over MAX_DATA_URI_CHARS

    def take(self, value: Any) -> Any:
        if is_data_uri(value):
            if len(value) > MAX_DATA_URI_CHARS:
                self.too_large.append(len(value))
            sha, ref = reference(value)
            self.uris[sha] = value
            stand_in = f"{value[: value.index(',', 0, 4096)]},{sha}"
            self.stand_ins[stand_in] = ref
            return stand_in
        if isinstance(value, dict):
            return {key: self.take(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.take(item) for item in value]
        return value

    def references(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.stand_ins.get(value, value)
        if isinstance(value, dict):
            return {key: self.references(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.references(item) for item in value]
        return value


# A piece of a request's JSON as it is sent: JSON text as it is (bytes), or the digest of a
# kept data URI (str) whose JSON string goes in that place, read a part at a time.
Piece = bytes | str


def json_pieces(fields: dict[str, Any], kept: Collection[str]) -> list[Piece]:
    """The request's JSON cut where each kept URI goes, so that a send can stream it and no
    buffer holds a whole URI (a reference whose URI is not kept goes out as it is). The
    pieces joined, with each URI in place, are what `orjson.dumps` writes of it put back."""
    pieces: list[Piece] = []
    run = bytearray()  # the JSON text since the last URI: one copy, however many tokens

    def text(piece: bytes) -> None:
        run.extend(piece)

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
