"""The one JSON rule every door reads its body by."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from receiver.kernel.errors import InvalidRequest, ParseError
from receiver.kernel.http.jsonbody import MAX_DEPTH, load_json, refuse_nul

pytestmark = pytest.mark.unit


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_up_to_the_limit_is_read_and_written_back() -> None:
    value = load_json(_nested(MAX_DEPTH))
    assert orjson.loads(orjson.dumps(value)) == value


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 5000])
def test_deeper_is_refused(depth: int) -> None:
    with pytest.raises(ParseError, match="nested"):
        load_json(_nested(depth))


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 2**63, 12345678901234567890])
def test_integers_of_64_bits_are_kept_exactly(number: int) -> None:
    value: Any = load_json(b'{"n": %d, "s": "%d"}' % (number, number))
    assert value == {"n": number, "s": str(number)}
    assert orjson.loads(orjson.dumps(value)) == value


@pytest.mark.parametrize(
    "body", [b"[18446744073709551616]", b"[-9223372036854775809]", b"[1e400]", b"[NaN]"]
)
def test_numbers_the_relay_could_not_send_on_are_refused(body: bytes) -> None:
    with pytest.raises(ParseError, match="refused"):
        load_json(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"model": "gen4\\u0000"}', "model: must not contain NUL"),
        (b'{"a": [1, {"b": "x\\u0000y"}]}', "a.1.b: must not contain NUL"),
        (b'{"m": {"k\\u0000": 1}}', "m.k\\u0000: a key must not contain NUL"),
        (b'"\\u0000"', "body: must not contain NUL"),
    ],
)
def test_nul_anywhere_is_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        load_json(body)
    assert refused.value.detail.startswith(field), refused.value.detail
    assert "\x00" not in refused.value.detail


def test_nul_is_left_to_cometapis_parser_where_asked() -> None:
    assert load_json(b'{"msg": "a\\u0000"}', keep_nul=True) == {"msg": "a\x00"}
    assert load_json(b'{"msg": "a\\u0000"}', exact_numbers=False) == {"msg": "a\x00"}
    # An escaped backslash before `u0000` is no NUL.
    assert load_json(b'{"msg": "a\\\\u0000"}') == {"msg": "a\\u0000"}
    with pytest.raises(InvalidRequest):
        refuse_nul({"form": "x\x00"}, "form")
