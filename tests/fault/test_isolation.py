"""One failing downstream does not hurt the others.

A downstream that accepts connections and never answers holds at most its own share of
the fan-out; a failing one trips its breaker; one that keeps failing is disabled, its
deliveries held, the other downstreams told, and enabling it recovers what it missed. A
receiver can stop the retries of one message, and a task's events reach a downstream that
asks for it (`ordering = "task"`) in order.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of
from tests.harness import (
    SEEN_RUNNING,
    Relay,
    Simulator,
    Sink,
    image_to_video,
    metric,
    settled,
    wait_for,
)

pytestmark = pytest.mark.fault

EVENTS = 500
HUNG_TIMEOUT = 2.0
CAP = 4  # the hung downstream's share
TURN = 0.02


def _delays(sink: Sink, path: str) -> list[float]:
    """Seconds from each event to its delivery at the sink."""
    return [
        h["received_at"] - json.loads(h["body"])["data"]["occurred_at"] for h in sink.accepted(path)
    ]


def _most_at_once(sink: Sink, path: str) -> int:
    """The most requests the sink held at the same time.

    The sink notices a client's disconnect a loop turn late, so a request that starts
    within TURN of another's end is that one's successor, not a concurrent one.
    """
    held = [(h["received_at"], h["released_at"] - TURN) for h in sink.received(path)]
    return max((sum(s <= t < end for s, end in held) for t, _ in held), default=0)


def _healthy_while_saturated(hung: Sink, healthy: Sink) -> int:
    """Healthy deliveries that arrived while the hung downstream held its whole share."""
    held = [(h["received_at"], h["released_at"] - TURN) for h in hung.received("/hung")]
    saturated = [
        (t, min(end for s, end in held if s <= t < end))
        for t, _ in held
        if sum(s <= t < end for s, end in held) >= CAP
    ]
    return sum(
        any(start <= h["received_at"] < end for start, end in saturated)
        for h in healthy.accepted("/healthy")
    )


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.99) - 1]


def _run(make_relay: MakeRelay, sink: Sink, hung: Sink | None) -> tuple[Relay, float]:
    downstreams = [webhook(sink, "healthy")]
    if hung is not None:
        downstreams.append(webhook(hung, "hung", timeout=HUNG_TIMEOUT, max_in_flight=CAP))
    relay = make_relay(
        downstreams,
        polling={"initial_delay_seconds": 1.0, "batch_size": 100},
        delivery={"lease_seconds": 12},
    )
    for _ in range(EVENTS):
        assert relay.submit(**image_to_video()).status_code == 202
    started = time.monotonic()
    wait_for(lambda: len(sink.accepted("/healthy")) >= EVENTS, timeout=120, interval=0.2)
    return relay, time.monotonic() - started


def test_a_hung_downstream_holds_only_its_share(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, figures: Figures, storage_url: str
) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("the in-process caps are the same on both backends: once is enough")
    alone = make_sink()
    first, seconds_alone = _run(make_relay, alone, None)
    rate_alone = EVENTS / seconds_alone
    p99_alone = _p99(_delays(alone, "/healthy"))
    first.stop()  # the next relay works on the same store: one process at a time on SQLite

    healthy, hung = make_sink(), make_sink()
    hung.mode(delay_seconds=60)  # accepts, reads, never answers within the timeout
    _relay, seconds = _run(make_relay, healthy, hung)
    delays = _delays(healthy, "/healthy")
    p99 = _p99(delays)
    _relay.stop()  # every held request ends, so each gets its end recorded
    wait_for(lambda: all("released_at" in h for h in hung.received("/hung")))
    at_once = _most_at_once(hung, "/hung")
    assert at_once <= CAP, f"the hung downstream held {at_once} attempts at once"
    assert len(hung.received("/hung")) > 0  # it was tried, within its share
    # While the hung downstream held its whole share, healthy deliveries went on arriving:
    # the fan-out did not wait for the hung attempts to time out.
    assert _healthy_while_saturated(hung, healthy) > 0
    rate = EVENTS / seconds
    figures.record(
        "hung_downstream",
        backend=backend_of(storage_url),
        events=EVENTS,
        hung_cap=CAP,
        hung_most_at_once=at_once,
        healthy_p50_s=round(statistics.median(delays), 3),
        healthy_p99_s=round(p99, 3),
        healthy_p99_alone_s=round(p99_alone, 3),
        healthy_rate_alone_per_s=round(rate_alone, 1),
        healthy_rate_with_hung_per_s=round(rate, 1),
        rate_ratio=round(rate / rate_alone, 2),
    )


def test_the_breaker_pauses_a_failing_downstream_and_a_probe_closes_it(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    sink.mode(status=500)
    # Long enough that the API, read after the gauge saw the breaker open, sees it still
    # open on a loaded machine (at 1.5 s it once saw the probe's cool-off already over).
    cool_off = 5.0
    relay = make_relay(
        [webhook(sink, "flaky", breaker_min_attempts=3, breaker_cool_off_seconds=cool_off)],
        delivery={"retry_schedule": [0.1] * 20, "jitter": 0.0},
    )
    ids = [relay.submit(**image_to_video()).json()["id"] for _ in range(6)]
    wait_for(lambda: len(sink.received("/flaky")) >= 3)

    def state():
        return metric(relay.scrape(), "relay_downstream_state", downstream="flaky")

    wait_for(lambda: state() == 2)  # open
    during = len(sink.received("/flaky"))
    [health] = relay.api.get("/v1/downstreams").json()["downstreams"]
    assert health["breaker"] == "open"
    sink.mode(status=200)
    for task_id in ids:
        relay.wait_task(task_id, settled)
    hits = sink.received("/flaky")
    # Nothing went out while the breaker was open: the next request, the probe, came a
    # whole cool-off after the last failure.
    probe = hits[during]
    gap = probe["received_at"] - hits[during - 1]["received_at"]
    assert gap >= cool_off * 0.9, gap
    assert len(hits) <= during + len(ids) + 1
    wait_for(lambda: state() == 0)
    figures.record(
        "breaker",
        backend=backend_of(storage_url),
        failures_to_open=3,
        attempts_before_open=during,
        probe_after_s=round(gap, 2),
        attempts_total=len(hits),
        delivered=len(ids),
    )


def test_a_downstream_failing_for_long_is_disabled_told_and_recovered(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, figures: Figures, storage_url: str
) -> None:
    down, ops = make_sink(), make_sink()
    down.mode(status=503)
    relay = make_relay(
        [
            webhook(down, "down", disable_after_seconds=1.0, breaker_min_attempts=1000),
            webhook(ops, "ops", events=["downstream.disabled"]),
        ],
        delivery={"retry_schedule": [0.2] * 30, "jitter": 0.0},
    )
    first = relay.submit(**image_to_video()).json()["id"]
    wait_for(lambda: ops.accepted("/ops"))
    [notice] = [json.loads(h["body"]) for h in ops.accepted("/ops")]
    assert notice["type"] == "downstream.disabled"
    assert notice["data"]["downstream"] == "down"
    [health] = [
        h for h in relay.api.get("/v1/downstreams").json()["downstreams"] if h["name"] == "down"
    ]
    assert health["disabled"] and "failed" in health["disabled_reason"]
    assert metric(relay.scrape(), "relay_downstream_state", downstream="down") == 3

    # While disabled, new events for it are stored and held, not attempted.
    tried = len(down.received("/down"))
    held = relay.submit(**image_to_video()).json()["id"]
    relay.wait_task(held, lambda t: t["deliveries"] and t["deliveries"][0]["state"] == "held")
    assert relay.task(first)["deliveries"][0]["state"] == "held"
    assert len(down.received("/down")) == tried

    # The CLI sees the same, and enabling recovers what was held.
    cli = [sys.executable, "-m", "receiver", "downstreams"]
    config = ["--config", str(relay.config_path)]
    listing = subprocess.run([*cli, "list", *config], capture_output=True, text=True, check=True)
    # Disabled reads `paused`, the one health word of the API, CLI, console and portal.
    row = next(line for line in listing.stdout.splitlines() if line.startswith("down "))
    assert row.split()[1] == "paused"
    down.mode(status=200)
    enabled = relay.api.post("/v1/downstreams/down/enable")
    assert enabled.status_code == 200 and enabled.json()["queued"] == 2
    for task_id in (first, held):
        relay.wait_task(task_id, settled)
        assert relay.task(task_id)["deliveries"][0]["state"] == "succeeded"
    off = subprocess.run([*cli, "disable", "down", *config], capture_output=True, text=True)
    assert off.returncode == 0 and "disabled" in off.stdout
    on = subprocess.run([*cli, "enable", "down", *config], capture_output=True, text=True)
    assert on.returncode == 0 and "enabled" in on.stdout
    figures.record(
        "disable_and_recover",
        backend=backend_of(storage_url),
        disable_after_seconds=1.0,
        notice_delivered_to_other=1,
        attempts_while_disabled=len(down.received("/down")) - tried - 2,
        recovered=enabled.json()["queued"],
    )


def test_a_receiver_can_stop_the_retries_of_one_message(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    sink.mode(status=500, abort=True, count=1)
    relay = make_relay([webhook(sink)], delivery={"retry_schedule": [0.1, 0.1]})
    task_id = relay.submit(**image_to_video()).json()["id"]
    task = relay.wait_task(task_id, settled)
    [delivery] = task["deliveries"]
    assert (delivery["state"], delivery["attempts"]) == ("dead", 1)
    assert "asked to stop retrying" in delivery["last_error"]
    assert len(sink.received()) == 1


def test_a_tasks_events_reach_a_downstream_in_order(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    # The first delivery (the task's `running`) fails once; `succeeded` must wait for it.
    sink.mode(status=503, count=1)
    relay = make_relay(
        [webhook(sink, events=["running", "succeeded"], ordering="task")],
        delivery={"retry_schedule": [1.0], "jitter": 0.0},
    )
    task_id = relay.submit(**image_to_video(promptText=SEEN_RUNNING)).json()["id"]
    relay.wait_task(task_id, settled)
    states = [json.loads(h["body"])["data"]["state"] for h in sink.accepted()]
    assert states == ["running", "succeeded"]
