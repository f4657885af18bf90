"""Fair turns between keys in the submit queue (receiver/domain/turns.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from receiver.domain.turns import take_turns


def test_a_batch_does_not_hold_another_keys_single_task_behind_it() -> None:
    lines = {"a": [f"a{i}" for i in range(200)], "b": ["b0"]}
    first = take_turns(lines, None, 2)
    assert first.chosen == ["a0", "b0"] and first.last == "b"


def test_the_next_claim_goes_on_after_the_key_served_last() -> None:
    lines = {"a": ["a0", "a1"], "b": ["b0", "b1"], "c": ["c0"]}
    assert take_turns(lines, None, 1).chosen == ["a0"]
    assert take_turns(lines, "a", 1).chosen == ["b0"]
    assert take_turns(lines, "b", 2).chosen == ["c0", "a0"]
    # A key that is gone from the queue: the turn passes to the next one after it.
    assert take_turns(lines, "bb", 1).chosen == ["c0"]
    assert take_turns(lines, "z", 1).chosen == ["a0"]


def test_oldest_first_within_a_key_and_weights_per_round() -> None:
    lines = {"a": ["a0", "a1", "a2", "a3"], "b": ["b0", "b1", "b2"]}
    turns = take_turns(lines, None, 6, {"a": 3})
    assert turns.chosen == ["a0", "a1", "a2", "b0", "a3", "b1"]
    assert turns.last == "b"
    assert take_turns(lines, None, 10).chosen == ["a0", "b0", "a1", "b1", "a2", "b2", "a3"]


def test_nothing_waiting_or_no_room() -> None:
    assert take_turns({}, "a", 5).chosen == []
    assert take_turns({"a": []}, None, 5).chosen == []
    assert take_turns({"a": ["a0"]}, "a", 0).chosen == []


@given(
    st.dictionaries(st.sampled_from("abcde"), st.integers(0, 6)),
    st.integers(0, 12),
    st.none() | st.sampled_from("abcdez"),
)
def test_every_key_with_waiting_tasks_is_served_before_any_is_served_twice(
    sizes: dict[str, int], slots: int, after: str | None
) -> None:
    lines = {k: [(k, i) for i in range(n)] for k, n in sizes.items()}
    chosen = take_turns(lines, after, slots).chosen
    assert len(chosen) == min(slots, sum(sizes.values()))
    waiting = [k for k, n in sizes.items() if n]
    served = [k for k, _ in chosen]
    head = served[: len(waiting)]
    assert len(set(head)) == len(head)  # a first round: no key twice
    for key in waiting:  # oldest first within a key
        own = [i for k, i in chosen if k == key]
        assert own == sorted(own) and own == list(range(len(own)))
