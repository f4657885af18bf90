"""Data URIs taken out of a request and put back for its send (receiver/domain/inputs.py)."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from receiver.domain.inputs import (
    MAX_DATA_URI_CHARS,
    TakenOut,
    json_pieces,
    json_string_part,
    reference,
)

pytestmark = pytest.mark.unit

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"x" * 95).decode()


def test_a_reference_names_type_decoded_size_and_digest() -> None:
    sha, ref = reference(PNG)
    assert sha == hashlib.sha256(PNG.encode()).hexdigest()
    assert ref == {"data_uri": {"type": "image/png", "bytes": 99, "sha256": sha}}
    assert reference("data:,hello")[1]["data_uri"]["type"] == "text/plain"
    assert reference("DATA:text/csv,a%2Cb")[1]["data_uri"]["bytes"] == len("a%2Cb")


def test_stand_ins_keep_the_header_and_become_references() -> None:
    taken = TakenOut()
    body = {"videoUri": PNG, "references": [{"uri": PNG}, {"uri": "https://a.example/b"}]}
    stood = taken.take(body)
    sha, ref = reference(PNG)
    assert stood["videoUri"] == f"data:image/png;base64,{sha}"
    assert taken.uris == {sha: PNG} and not taken.too_large
    referenced = taken.references(stood)
    assert referenced == {
        "videoUri": ref,
        "references": [{"uri": ref}, {"uri": "https://a.example/b"}],
    }
    # Put back for the send: the request as it came, byte for byte.
    assert _sent(referenced, taken.uris, part_chars=7) == orjson.dumps(body)
    # A reference whose URI is not kept goes out as it is.
    assert _sent(referenced, {}, part_chars=7) == orjson.dumps(referenced)


def _sent(fields: dict[str, object], kept: dict[str, str], part_chars: int) -> bytes:
    """The body a send streams: the pieces, each URI cut in parts as the store keeps it."""
    out = b""
    for piece in json_pieces(fields, kept):
        if isinstance(piece, bytes):
            out += piece
            continue
        uri = kept[piece]
        parts = [uri[i : i + part_chars] for i in range(0, len(uri), part_chars)]
        for index, part in enumerate(parts):
            out += json_string_part(part, first=index == 0, last=index == len(parts) - 1)
    return out


def test_a_uri_that_needs_escaping_is_escaped_across_its_parts() -> None:
    uri = 'data:text/plain,say "hi"\\ ünïcode \u2028 \t end'
    taken = TakenOut()
    body = {"promptImage": [{"uri": uri, "position": "first"}], "seed": 2**63 - 1, "n": None}
    referenced = taken.references(taken.take(body))
    for part_chars in (1, 2, 3, 1000):
        assert _sent(referenced, taken.uris, part_chars) == orjson.dumps(body)


def test_an_oversized_data_uri_is_noted() -> None:
    taken = TakenOut()
    taken.take({"v": "data:," + "a" * MAX_DATA_URI_CHARS})
    assert taken.too_large == [MAX_DATA_URI_CHARS + 6]
