"""The poll timing rule over a virtual clock: tasks of 20 s to 10 min (PENDING first, uneven
progress, some with none, some failing part-way), polled by the relay's rule with its
shipped defaults and by a client like Runway's SDK (a GET every 6 s +- 1.5 s). The bench's
`polllag` stage runs this beside its real-time sample, which cannot last ten minutes."""

from __future__ import annotations

import random
from dataclasses import dataclass

from receiver.config import PollingConfig
from receiver.lifecycle.rules.polling import (
    PollRule,
    Seen,
    next_poll,
    timing_key,
    usual_window,
)

# Tasks of one model and duration take about as long: these are their typical totals.
KINDS = (25.0, 45.0, 90.0, 180.0, 360.0, 560.0)


@dataclass(frozen=True)
class Plan:
    kind: int
    created: float
    queued: float
    running: float  # the whole run its progress counts against
    curve: float
    shows_progress: bool
    fail_at: float | None  # share of the run at which it fails

    @property
    def end(self) -> float:
        return self.created + self.queued + self.running * (self.fail_at or 1.0)

    def seen(self, now: float) -> tuple[str, float | None]:
        age = now - self.created
        if now >= self.end:
            return "ended", None
        if age < self.queued:
            return "queued", None
        share = (age - self.queued) / self.running
        return "running", round(share**self.curve, 2) if self.shows_progress else None


def plans(count: int, seed: int = 1) -> list[Plan]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = rng.randrange(len(KINDS))
        total = min(600.0, max(20.0, KINDS[kind] * rng.uniform(0.85, 1.15)))
        queued = rng.uniform(1, min(15, total / 3))
        out.append(
            Plan(
                kind,
                i * 2.0,
                queued,
                total - queued,
                rng.uniform(0.7, 1.4),
                rng.random() > 0.2,
                rng.uniform(0.2, 0.9) if rng.random() < 0.1 else None,
            )
        )
    return out


def relay(tasks: list[Plan], rule: PollRule, first_delay: float) -> list[tuple[float, int]]:
    """(lag, polls) per task, by the rule; each success joins its kind's history."""
    history: dict[str, list[float]] = {}
    out = []
    for task in sorted(tasks, key=lambda t: t.end):
        key = timing_key("image_to_video", {"model": "m", "duration": task.kind})
        now, started_at, polls = task.created + first_delay, None, 0
        while True:
            polls += 1
            state, progress = task.seen(now)
            if state == "ended":
                out.append((now - task.end, polls))
                if task.fail_at is None:
                    history.setdefault(key, []).append(now - task.created)
                break
            if state == "running" and started_at is None:
                started_at = now
            usual = usual_window(history.get(key, [])[-50:])
            seen = Seen(now, task.created, state == "running", started_at, progress, usual)
            now = next_poll(seen, rule).at
    return out


def reference(tasks: list[Plan], seed: int = 2) -> list[tuple[float, int]]:
    """(lag, polls) per task for a client polling every 6 s +- 1.5 s from its submit."""
    rng = random.Random(seed)
    out = []
    for task in tasks:
        now, polls = task.created, 0
        while now < task.end:
            now += rng.uniform(4.5, 7.5)
            polls += 1
        out.append((now - task.end, polls))
    return out


def run(count: int) -> dict[str, dict[str, float]]:
    tasks = plans(count)
    shipped = PollingConfig()
    return {
        "relay": summary(relay(tasks, shipped.rule(), shipped.initial_delay_seconds)),
        "reference": summary(reference(tasks)),
    }


def summary(results: list[tuple[float, int]]) -> dict[str, float]:
    lags = sorted(lag for lag, _ in results)
    return {
        "tasks": len(results),
        "p50_s": round(lags[len(lags) // 2], 2),
        "p95_s": round(lags[min(len(lags) - 1, int(len(lags) * 0.95))], 2),
        "max_s": round(lags[-1], 2),
        "polls_per_task": round(sum(p for _, p in results) / len(results), 1),
    }
