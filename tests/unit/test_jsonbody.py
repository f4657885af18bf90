"""The one JSON rule every door reads its body by."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.kernel.errors import InvalidRequest, ParseError
from receiver.kernel.http.body import (
    MAX_DEPTH,
    _plainly_within,
    check_depth,
    load_json,
    refuse_nul,
)

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


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_a_body_skipped_by_the_scan_is_one_the_walk_would_pass(value: Any, tight: bool) -> None:
    """The scan of the bytes lets a body go unwalked only when the walk would neither refuse
    it nor read it again, written with spaces or without."""
    separators = (",", ":") if tight else None
    body = json.dumps(value, separators=separators).encode()  # orjson: 64-bit integers only
    if _plainly_within(body):
        assert check_depth(orjson.loads(body)) is False


@pytest.mark.parametrize(
    ("body", "walked"),
    [
        (b'{"id":"0b9e5e0a-2e1f","tag":"e2e-0-17","url":"https://cdn.example/v.mp4"}', False),
        (b'{"point":"320","create_time":"1735689600"}', False),
        (b'{"n":1e3}', True),
        (b'{"n": -2.5E+30}', True),
        (b"[1, 12345678901234567890]", True),
        (b"1e400", True),
    ],
)
def test_only_a_number_that_may_be_big_makes_a_body_walked(body: bytes, walked: bool) -> None:
    assert _plainly_within(body) is not walked


def test_where_numbers_are_not_kept_exact_only_the_brackets_make_a_body_walked() -> None:
    # CometAPI's answers: a big number there is the parser's to judge, the depth still ours.
    assert _plainly_within(b'{"n": -2.5E+30, "m": 12345678901234567890}', exact_numbers=False)
    assert not _plainly_within(b"[" * 33 + b"]" * 33, exact_numbers=False)
