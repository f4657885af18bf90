"""Upstream faults: CometAPI failing, timing out, answering garbage or refusing the key.

On submit the caller gets 202 at once, whatever CometAPI will say: a refusal that will not
change fails the task with CometAPI's reason; a busy answer (429, 503) or no answer puts it
back in the submit queue until CometAPI takes it; a callback task whose send timed out is
bound by the callback CometAPI still sends. On poll the relay backs off, interval after
interval, and carries every task to its terminal state once CometAPI is healthy again.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import datetime
from typing import Any, NamedTuple

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of
from tests.harness import (
    Simulator,
    Sink,
    image_to_video,
    settled,
    video2video,
    wait_for,
)

pytestmark = pytest.mark.fault

# Past what a busy machine adds to an answer (0.5 s was not, beside the e2e suite, nor was
# 2 s at a load of 25); below the harness's poll lease (5 s), as start-up requires.
UPSTREAM_TIMEOUT = 4.0
# (name, fault, the status the first send gets (None: no answer), CometAPI's words, and
# whether the refusal lasts: a lasting one fails the task, a passing one is tried again)
SUBMIT_FAULTS: list[tuple[str, dict[str, Any], int | None, str, bool]] = [
    ("http_500", {"submit_status": 500, "submit_status_count": 1}, 500, "exploded", True),
    (
        "http_401",
        {"submit_status": 401, "submit_status_count": 1},
        401,
        "Incorrect API key provided: Bearer [redacted]",
        True,
    ),
    ("malformed", {"submit_malformed": True}, 200, "not JSON", True),
    ("http_503", {"submit_status": 503, "submit_status_count": 1}, 503, "exploded", False),
    ("http_429", {"submit_status": 429, "submit_status_count": 1}, 429, "rate limit", False),
    ("timeout", {"submit_delay_seconds": 2 * UPSTREAM_TIMEOUT}, None, "in time", False),
]
_CLEAR = {"submit_malformed": False, "submit_delay_seconds": 0.0}


def test_submit_faults_never_reach_the_caller_and_are_recorded(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    # The next try waits 12 s: long enough for a timed-out callback task's callback to come.
    upstream = {"timeout_seconds": UPSTREAM_TIMEOUT, "submit_retry_initial_seconds": 12}
    relay = make_relay([webhook(sink)], upstream=upstream)
    answers: dict[str, list[int]] = defaultdict(list)
    failed: list[str] = []
    retried: list[str] = []
    late: list[str] = []
    for (name, fault, status, reason, lasting), make in itertools.product(
        SUBMIT_FAULTS, (video2video, image_to_video)
    ):
        sim.faults(**fault)
        response = relay.submit(**make())
        answers[name].append(response.status_code)
        assert response.status_code == 202, (name, response.text)
        task_id = response.json()["id"]
        task = relay.wait_task(task_id, lambda t: t["submits"])  # the fault met its send
        sim.faults(**_CLEAR)
        first = task["submits"][0]
        assert (first["status"], reason in first["error"]) == (status, True), (name, first)
        if lasting:
            assert first["outcome"] == "failed"
            task = relay.wait_task(task_id, settled)
            assert task["state"] == "failed" and task["error"] == f"submit: {first['error']}"
            assert [(e["source"], e["state"]) for e in task["events"]] == [("submit", "failed")]
            failed.append(task_id)
            continue
        assert first["outcome"] == "retry"
        task = relay.wait_task(task_id, settled)
        assert task["state"] == "succeeded" and task["upstream_task_id"]
        sends = [s["outcome"] for s in task["submits"]]
        if name == "timeout" and make is video2video:
            # CometAPI took it after all: its callback bound the task, which is not sent again.
            assert sends == ["retry"], task["submits"]
            assert [e["source"] for e in task["events"]] == ["callback", "poll"]
            assert task["events"][0]["verdict"] == "confirmed"
            late.append(task_id)
            continue
        assert sends == ["retry", "accepted"], task["submits"]
        retried.append(task_id)
    notified = {h["json"]["data"]["task_id"] for h in sink.received() if h["json"]}
    assert notified >= set(failed)  # downstreams hear about the failure too
    assert relay.anon.get("/readyz").status_code == 200
    figures.record(
        "upstream_submit_faults",
        backend=backend_of(storage_url),
        answers=dict(answers),
        tasks_recorded_failed=len(failed),
        failures_notified_downstream=len(notified & set(failed)),
        tasks_retried_then_taken=len(retried),
        timed_out_callback_tasks_completed_by_late_callback=len(late),
    )


class Failed(NamedTuple):
    """One failed poll, from the relay's log."""

    start: float
    end: float  # when its line was written, before the next poll was planned
    status: Any  # CometAPI's status; None: no answer in time
    reason: str


def _poll_failures(lines: list[dict[str, Any]]) -> dict[str, list[Failed]]:
    """Per task, every failed poll, from the relay's log."""
    found: dict[str, list[Failed]] = defaultdict(list)
    for line in lines:
        if line.get("event") == "poll.failed":
            # The line is written when the poll ends; a timeout ends later than a 500 does.
            ended = datetime.fromisoformat(line["timestamp"]).timestamp()
            at = ended - line["elapsed_ms"] / 1000
            status, reason = line.get("upstream_status"), line["reason"]
            found[line["task_id"]].append(Failed(at, ended, status, reason))
    return found


def test_poll_faults_back_off_then_resume(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    sim.faults(drop_rate=1.0, poll_status=500)  # callbacks lost: polling is all there is
    relay = make_relay(
        [webhook(sink)],
        upstream={"timeout_seconds": UPSTREAM_TIMEOUT},
        polling={
            "callback_grace_seconds": 0.2,
            "initial_delay_seconds": 0.2,
            "interval_seconds": 0.2,
            "backoff_factor": 1.5,
            "max_interval_seconds": 2,
        },
    )
    makers = (image_to_video, image_to_video, video2video, video2video)
    task_ids = [relay.submit(**make()).json()["id"] for make in makers]

    def every_task_met(status: int | None) -> None:
        """Wait until each task's polls have failed with `status` (None: a timeout)."""

        def met() -> bool:
            failures = _poll_failures(relay.log_lines())
            return all(status in {f.status for f in failures[t]} for t in task_ids)

        wait_for(met)

    # A fault lasts until every task has met it: tasks poll on their own clocks, so a
    # global count of polls could let one task skip a fault altogether.
    every_task_met(500)
    sim.faults(poll_status=401)
    every_task_met(401)
    sim.faults(poll_status=None, poll_malformed=True)
    every_task_met(200)  # 200: a body that is not JSON
    sim.faults(poll_malformed=False, poll_delay_seconds=2 * UPSTREAM_TIMEOUT)
    every_task_met(None)
    wait_for(lambda: all(len(f) >= 7 for f in _poll_failures(relay.log_lines()).values()))
    cleared = time.time()
    sim.faults(poll_delay_seconds=0.0)
    tasks = [relay.wait_task(t, settled) for t in task_ids]
    resumed = [t["terminal_at"] - cleared for t in tasks]

    failures = _poll_failures(relay.log_lines())
    intervals: dict[str, list[float]] = {}
    for task in tasks:
        assert task["state"] == "succeeded"
        assert [e["source"] for e in task["events"] if e["applied"]][-1] == "poll"
        seen = failures[task["id"]]
        kinds = {f.status for f in seen}
        assert {500, 401, 200, None} <= kinds, seen
        gaps = [b.start - a.start for a, b in itertools.pairwise(seen)]
        # Each poll waits its back-off (0.2 s x 1.5 a poll, capped at 2 s) after the one
        # before it ended, and never less: a loaded machine only makes it later (so the gaps
        # between starts, a late poll's and the next one's, need not grow).
        waits = [b.start - a.end for a, b in itertools.pairwise(seen)]
        backoffs = [min(2.0, 0.2 * 1.5**k) for k in range(len(waits))]
        assert all(w >= b - 0.01 for w, b in zip(waits, backoffs, strict=True)), seen
        assert gaps[-1] >= 4 * gaps[0], gaps
        intervals[task["id"]] = [round(g, 2) for g in gaps]
    assert len(sink.received()) == len(task_ids)

    first = intervals[tasks[0]["id"]]
    figures.record(
        "upstream_poll_faults",
        backend=backend_of(storage_url),
        tasks=len(tasks),
        fault_kinds=["http_500", "http_401", "malformed", "timeout"],
        failed_polls=sum(len(f) for f in failures.values()),
        poll_intervals_seconds_one_task=first,
        interval_growth=round(first[-1] / first[0], 1),
        seconds_from_fault_cleared_to_terminal_max=round(max(resumed), 2),
        terminal_after_recovery=sum(t["state"] == "succeeded" for t in tasks),
    )
