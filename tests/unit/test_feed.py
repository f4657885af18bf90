"""The live stream's rules, without I/O: what is new to a client, where it resumes, and
how upstream's progress reads."""

from __future__ import annotations

import pytest

from receiver.kernel.errors import MalformedRequest
from receiver.lifecycle.rules.task import progress_fraction
from receiver.stream.changes import LOOK_BACK_SECONDS, READ_LIMIT, Feed
from receiver.stream.reads import Change
from receiver.stream.route import encode, resume_point


def change(at: float, key: str = "t1", kind: str = "task") -> Change:
    return Change(kind, at, key, "t1", {"id": key, "at": at})


def test_each_change_is_sent_once_even_when_read_again():
    feed = Feed(since=100.0)
    first = [change(101.0), change(102.0, "a1", "attempt")]
    assert feed.take(first) == first
    assert feed.cursor == 102.0
    assert feed.read_from == 102.0 - LOOK_BACK_SECONDS
    # The next read looks back and finds the same rows, and one that committed late.
    late = change(101.5, "a0", "attempt")
    assert feed.take([first[0], late, first[1]]) == [late]
    # A task changing again is a new change.
    assert feed.take([change(103.0)]) == [change(103.0)]


def test_a_reconnecting_client_resumes_after_the_last_event_it_saw():
    at, key = resume_point("102.0 a1", None, now=500.0)
    feed = Feed(at, key)
    seen = [change(101.0), change(102.0, "a1", "attempt")]
    newer = change(102.0, "b2", "attempt")
    assert feed.take([*seen, newer]) == [newer]


def test_a_full_read_catches_up_from_the_cursor_before_looking_back_again():
    feed = Feed(since=0.0)
    batch = [change(float(i), f"k{i}") for i in range(1, READ_LIMIT + 1)]
    feed.take(batch)
    assert feed.read_from == float(READ_LIMIT)  # behind: no look-back
    feed.take([change(READ_LIMIT + 1.0, "last")])
    assert feed.read_from == READ_LIMIT + 1.0 - LOOK_BACK_SECONDS


def test_the_wire_format_carries_the_resume_point():
    text = encode(change(101.25, "a1", "attempt")).decode()
    assert text.startswith("id: 101.25 a1\nevent: attempt\ndata: {")
    assert text.endswith("}\n\n")


def test_where_a_stream_starts():
    assert resume_point(None, None, now=7.0) == (7.0, "")
    assert resume_point(None, "5.5", now=7.0) == (5.5, "")
    with pytest.raises(MalformedRequest):
        resume_point("yesterday", None, now=7.0)
    with pytest.raises(MalformedRequest):
        resume_point(None, "soon", now=7.0)


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("45%", 0.45),
        ("0.45", 0.45),
        ("1", 1.0),
        ("100%", 1.0),
        ("45", 0.45),
        ("250%", 1.0),
        ("-3", None),
        ("nan", None),
        ("soon", None),
        (None, None),
    ],
)
def test_progress_reads_both_formats(text: str | None, fraction: float | None):
    assert progress_fraction(text) == fraction
