"""Fair turns between keys in the submit queue (receiver/lifecycle/rules/queue.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from receiver.lifecycle.rules.queue import take_turns


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


def _sends(
    lines: dict[str, list[str]], weights: dict[str, int], slots: int, count: int
) -> list[str]:
    """`count` sends, claim after claim of `slots` each, the turn carried between claims as
    the store carries it; every send ends before the next claim (a cap of `slots`)."""
    waiting = {k: list(v) for k, v in lines.items()}
    after: str | None = None
    left = 0
    sent: list[str] = []
    while len(sent) < count:
        turns = take_turns(waiting, after, slots, weights, left)
        assert turns.chosen
        for task in turns.chosen:
            waiting[task[0]].remove(task)
        sent += turns.chosen
        after, left = turns.last, turns.left
    return sent[:count]


def test_weight_gives_turns_in_proportion_when_each_claim_takes_one() -> None:
    # The probe's case: a weight-3 key and a weight-1 key, at a cap of 1 and of 3.
    lines = {"h": [f"h{i}" for i in range(40)], "l": [f"l{i}" for i in range(40)]}
    for slots in (1, 2, 3):
        first = _sends(lines, {"h": 3, "l": 1}, slots, 16)
        heavy = sum(task[0] == "h" for task in first)
        assert heavy == 12, (slots, first)
    one_by_one = _sends(lines, {"h": 3, "l": 1}, 1, 8)
    assert one_by_one == ["h0", "h1", "h2", "l0", "h3", "h4", "h5", "l1"]


def test_a_turn_goes_on_across_claims_and_passes_when_its_key_has_nothing_left() -> None:
    lines = {"a": ["a0", "a1", "a2"], "b": ["b0"]}
    first = take_turns(lines, None, 1, {"a": 3})
    assert first.chosen == ["a0"] and (first.last, first.left) == ("a", 2)
    assert take_turns(lines, "a", 2, {"a": 3}, left=2).chosen == ["a0", "a1"]
    # Its turn used up: the next key starts.
    assert take_turns(lines, "a", 1, {"a": 3}, left=0).chosen == ["b0"]
    # A key with turns left but nothing waiting: the turn passes on.
    assert take_turns({"b": ["b0"], "c": ["c0"]}, "a", 1, {"a": 3}, left=2).chosen == ["b0"]
    # Its weight lowered since: never more than the weight a turn.
    assert take_turns(lines, "a", 5, {"a": 1}, left=9).chosen[:2] == ["a0", "b0"]


@given(
    st.dictionaries(st.sampled_from("abcd"), st.integers(1, 4), min_size=1),
    st.integers(1, 4),
)
def test_long_runs_send_in_proportion_to_weight(weights: dict[str, int], slots: int) -> None:
    lines = {k: [f"{k}{i}" for i in range(200)] for k in weights}
    rounds = 5
    sent = _sends(lines, weights, slots, rounds * sum(weights.values()))
    for key, weight in weights.items():
        assert abs(sum(task[0] == key for task in sent) - rounds * weight) <= weight, sent
