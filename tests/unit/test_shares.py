"""The fan-out's slots shared among downstreams: nobody is starved by config order."""

from __future__ import annotations

from collections.abc import Callable

from receiver.outbox.rules.pacing import claim_turn, share_slots


def claim_round(
    lanes: list[str],
    due: Callable[[str], bool],
    turn: int,
    free: int,
    allowance: Callable[[str], int],
) -> tuple[list[tuple[str, int]], int]:
    """`claim_turn` over a list of lanes, each lane's place its index."""
    places = [i for i, lane in enumerate(lanes) if due(lane)]
    return claim_turn(places, lanes.__getitem__, turn, free, allowance)


def served(lanes: list[str], start: int, free: int, cap: int = 8) -> dict[str, int]:
    return dict(share_slots(lanes, start, free, lambda _lane: cap))


def test_twelve_downstreams_each_get_a_share_of_sixty_four_slots() -> None:
    lanes = [f"d{i}" for i in range(12)]
    shares = served(lanes, 0, 64)
    assert sorted(shares) == sorted(lanes)
    assert sum(shares.values()) <= 64


def test_with_more_downstreams_than_slots_the_turn_moves_on() -> None:
    lanes = [f"d{i}" for i in range(103)]
    seen: set[str] = set()
    start = 0
    for _ in range(2):
        shares = share_slots(lanes, start, 64, lambda _lane: 8)
        assert sum(n for _, n in shares) == 64
        seen.update(lane for lane, _ in shares)
        start = lanes.index(shares[-1][0]) + 1
    assert seen == set(lanes)


def test_a_lane_never_gets_more_than_its_allowance_or_the_free_slots() -> None:
    shares = share_slots(["a", "b"], 0, 64, lambda lane: 3 if lane == "a" else 100)
    assert shares == [("a", 3), ("b", 32)]
    assert share_slots(["a"], 0, 0, lambda _lane: 8) == []
    assert share_slots([], 0, 64, lambda _lane: 8) == []


def test_only_the_lanes_with_rows_due_claim() -> None:
    lanes = [f"d{i}" for i in range(1000)]
    due = {"d7", "d500"}
    wanted, _ = claim_round(lanes, lambda lane: lane in due, 0, 64, lambda _lane: 8)
    assert wanted == [("d7", 8), ("d500", 8)]
    assert claim_round(lanes, lambda _lane: False, 5, 64, lambda _lane: 8) == ([], 5)


def test_the_turn_holds_its_place_while_the_due_lanes_change() -> None:
    lanes = [f"d{i}" for i in range(10)]
    # Two slots: d1 and d3 are served, so the next round starts after d3 ...
    wanted, turn = claim_round(lanes, lambda lane: lane != "d2", 1, 2, lambda _lane: 1)
    assert [lane for lane, _ in wanted] == ["d1", "d3"]
    assert turn == 4
    # ... even when d1 and d3 have nothing left: d4 and d5 come next, then round to d0.
    wanted, turn = claim_round(lanes, lambda lane: lane not in {"d1", "d3"}, turn, 2, lambda _: 1)
    assert [lane for lane, _ in wanted] == ["d4", "d5"]
    wanted, turn = claim_round(lanes, lambda lane: lane in {"d0", "d9"}, turn, 2, lambda _: 1)
    assert [lane for lane, _ in wanted] == ["d9", "d0"]
    assert turn == 1


def test_with_more_due_lanes_than_slots_every_one_is_served_in_turn() -> None:
    lanes = [f"d{i}" for i in range(300)]
    due = set(lanes[::3])
    seen: set[str] = set()
    turn = 0
    for _ in range(2):
        wanted, turn = claim_round(lanes, lambda lane: lane in due, turn, 64, lambda _: 8)
        seen.update(lane for lane, _ in wanted)
    assert seen == due
