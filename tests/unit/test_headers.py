"""Reading another service's Retry-After: whatever it says, a number or nothing, never an
exception; the callers cap it."""

from __future__ import annotations

import math

import pytest

from receiver.kernel.net.outbound import retry_after

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        ("-5", 0.0),
        ("1000000000", 1e9),
        ("inf", math.inf),
        ("1e400", math.inf),
        ("9" * 400, math.inf),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Fri, 01 Jan 2100 00:00:00 GMT", 4102444800.0 - NOW),
        ("Fri, 01 Jan 99999 00:00:00 GMT", None),
    ],
)
def test_every_spelling_is_read_safely(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, NOW) == seconds
