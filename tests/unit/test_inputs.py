"""Data URIs taken out of a request and put back for its send (receiver/tasks/rules/inputs.py)."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from receiver.tasks.rules.inputs import (
    MAX_DATA_URI_CHARS,
    MAX_DATA_URIS,
    MAX_INLINE_CHARS,
    TakenOut,
    holds_references,
    json_pieces,
    json_string_part,
    next_batch,
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


def test_only_a_request_that_refers_to_a_kept_uri_holds_references() -> None:
    taken = TakenOut()
    referenced = taken.references(taken.take({"a": [{"b": {"uri": PNG}}], "c": "text"}))
    assert holds_references(referenced)
    assert holds_references([referenced])
    plain = {"promptImage": "https://a.example/b", "data_uri": "x", "d": [{"data_uri": 1}]}
    assert not holds_references(plain)
    assert not holds_references({"data_uri": {"sha256": "f"}, "other": 1})


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


def test_small_uris_are_read_in_batches_each_once_and_large_ones_apart() -> None:
    sizes = {"a": (1, 10), "b": (1, 10), "big": (3, 9_000_000), "c": (1, 10)}
    pieces: list[bytes | str] = [b"{", "a", b",", "big", b",", "b", "a", "c", b"}"]
    assert next_batch(pieces, 0, sizes, budget=100) == ["a", "b", "c"]
    assert next_batch(pieces, 5, sizes, budget=100) == ["b", "a", "c"]
    # As many as the budget holds, and always the first, however large.
    assert next_batch(pieces, 0, sizes, budget=20) == ["a", "b"]
    assert next_batch(pieces, 0, {**sizes, "a": (1, 500)}, budget=20) == ["a"]
    assert next_batch(pieces, 8, sizes) == []


def test_a_read_per_batch_puts_back_20000_uris_byte_for_byte() -> None:
    taken = TakenOut()
    body = {"images": [{"uri": f"data:image/png;base64,{index:08d}"} for index in range(20_000)]}
    fields = taken.references(taken.take(body))
    sizes = {sha: (1, len(uri)) for sha, uri in taken.uris.items()}
    pieces = json_pieces(fields, sizes)
    out, held, reads = b"", {}, 0
    for index, piece in enumerate(pieces):
        if isinstance(piece, bytes):
            out += piece
            continue
        if piece not in held:
            held = {sha: taken.uris[sha] for sha in next_batch(pieces, index, sizes)}
            reads += 1
        out += json_string_part(held[piece], first=True, last=True)
    assert out == orjson.dumps(body)
    assert reads == 1  # 20,000 URIs of 30 characters: one read, not 20,000


def test_text_kept_inline_is_capped_naming_the_largest_field() -> None:
    taken = TakenOut()
    long_header = "data:image/png;name=" + "x" * 5000 + ",AAAA"
    taken.take_fields({"kind": "k" * 10, "promptText": "a cat", "header": long_header}, ("kind",))
    assert taken.inline["header"] == len("header") + len(long_header)
    assert taken.inline["promptText"] == len("promptText") + len("a cat")
    assert "kind" not in taken.inline and taken.too_much() is None
    big = TakenOut()
    big.take_fields({"x": "a", "unknown": {"deep": ["b" * MAX_INLINE_CHARS]}}, ())
    reason = big.too_much()
    assert reason is not None and reason.startswith("unknown: holds")
    # Any spelling counts: numbers and keys as well as strings.
    many = TakenOut()
    many.take_fields({"n": list(range(MAX_INLINE_CHARS))}, ())
    assert (many.too_much() or "").startswith("n: holds")
    # Data URIs are kept apart, not inline, and not counted there.
    uris = TakenOut()
    uris.take_fields({"v": "data:," + "a" * (2 * MAX_INLINE_CHARS)}, ())
    assert uris.too_much() is None and uris.inline == {"v": len("v")}


def test_a_request_holds_at_most_max_data_uris() -> None:
    taken = TakenOut()
    taken.take_fields({"u": ["data:,a"] * MAX_DATA_URIS}, ())
    assert taken.too_much() is None
    taken.take_fields({"w": ["data:,b"]}, ())
    assert f"{MAX_DATA_URIS + 1} data: URIs, over {MAX_DATA_URIS}" in (taken.too_much() or "")
