"""The pull endpoint's cursors: opaque, signed for one downstream, read back under any of
the relay's signing keys, refused when altered."""

from __future__ import annotations

import pytest

from receiver.deliveries.pulled import START, cursor, position
from receiver.kernel.errors import MalformedRequest


def test_a_cursor_reads_back_its_position_under_an_older_key_too():
    made = cursor(["old"], "app_1.inbox", (1712.5, "msg_00ab"))
    assert position(["old"], "app_1.inbox", made) == (1712.5, "msg_00ab")
    assert position(["old", "new"], "app_1.inbox", made) == (1712.5, "msg_00ab")
    assert "msg_00ab" not in made  # opaque
    assert position(["k"], "app_1.inbox", None) == START


@pytest.mark.parametrize("given", ["nonsense", "a.b", "!!.??"])
def test_what_the_relay_did_not_make_is_refused(given: str):
    with pytest.raises(MalformedRequest):
        position(["k"], "app_1.inbox", given)


def test_a_cursor_is_its_downstreams_alone_and_unaltered():
    made = cursor(["k"], "app_1.inbox", (1.0, "msg_1"))
    with pytest.raises(MalformedRequest):
        position(["k"], "app_2.inbox", made)
    _, mac = made.split(".")
    forged = cursor(["k"], "app_1.inbox", (2.0, "msg_9")).split(".")[0]
    with pytest.raises(MalformedRequest):
        position(["k"], "app_1.inbox", f"{forged}.{mac}")
    with pytest.raises(MalformedRequest):
        position(["other"], "app_1.inbox", made)
