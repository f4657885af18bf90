"""The fan-out's slots shared among downstreams: nobody is starved by config order."""

from __future__ import annotations

from receiver.domain.shares import share_slots


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
