"""Callback abuse: forged, tampered, expired and misdirected tokens; replays; races with polls.

A rejected request must be a 4xx and change nothing at all, which is checked by comparing
the tasks, the deliveries and what the downstream received before and after. A replayed
callback is acknowledged every time and recorded and delivered once.
"""

from __future__ import annotations

import base64
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import MakeRelay, webhook
from tests.fault.support import (
    Figures,
    all_tasks,
    backend_of,
    callback_body,
    pending_deliveries,
    size,
)
from tests.harness import Relay, Simulator, Sink, mint, settled, terminal, video2video, wait_for

pytestmark = pytest.mark.fault

ALL_STATES = ["queued", "running", "succeeded", "failed", "cancelled"]
MAX_BODY = 64 * 1024
REPLAYS = 100
TOKEN_FUZZ = size("FAULT_TOKEN_FUZZ_EXAMPLES", 300)
RACE_TASKS = size("FAULT_RACE_TASKS", 30)
_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _segments(token: str) -> list[bytes]:
    """What a token's base64 segments decode to (two spellings can decode alike)."""
    return [base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)) for s in token.split(".")]


def _flip(token: str, at: int) -> str:
    """The token with one character changed (not the last of a segment: padding bits)."""
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


def _submit_queued(relay: Relay) -> tuple[str, str, str]:
    body = relay.submitted(**video2video())
    return body["id"], body["upstream_task_id"], body["callback_url"].rsplit("/", 1)[1]


def test_rejected_callbacks_change_nothing(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    sim.faults(drop_rate=1.0)  # the only callbacks are ours; polling is held off too
    relay = make_relay(
        [webhook(sink, events=ALL_STATES)],
        # No poll before the grace, not even the ones asking whether a task runs yet.
        polling={"callback_grace_seconds": 600, "initial_delay_seconds": 600},
        callbacks={"max_body_bytes": MAX_BODY},
    )
    a_id, a_up, a_token = _submit_queued(relay)
    b_id, _, b_token = _submit_queued(relay)
    wait_for(lambda: pending_deliveries(relay) == 0 and len(sink.received()) == 2)

    def snapshot() -> dict[str, Any]:
        return {
            "tasks": [relay.task(a_id), relay.task(b_id)],
            "list": all_tasks(relay),
            "deliveries": relay.api.get("/v1/deliveries", params={"limit": 1000}).json(),
            "sink": sink.received(),
        }

    before = snapshot()
    flipped_sig = _flip(a_token, len(a_token) - 10)
    flipped_payload = _flip(a_token, a_token.index(".") // 2)
    body_a = callback_body(a_up)
    cases: list[tuple[str, str, bytes, int]] = [
        ("forged", mint(a_id, "forged-secret-0123456789abcdef"), body_a, 403),
        ("tampered_payload", flipped_payload, body_a, 403),
        ("tampered_signature", flipped_sig, body_a, 403),
        ("truncated", a_token[:-4], body_a, 403),
        ("unsigned", a_token.split(".")[0], body_a, 403),
        ("expired", mint(a_id, age_seconds=3 * 24 * 3600), body_a, 403),
        ("other_tasks_token", b_token, body_a, 403),
        ("unknown_task", mint("tsk_0000000000000000000000000000"), body_a, 404),
        ("not_json", a_token, b"{not json", 400),
        ("not_an_envelope", a_token, b"[1, 2, 3]", 400),
        ("oversize", a_token, b" " * (MAX_BODY + 1), 413),
    ]
    statuses: dict[str, int] = {}
    for name, token, body, expected in cases:
        response = relay.anon.post(f"/callbacks/runway/{token}", content=body)
        statuses[name] = response.status_code
        assert response.status_code == expected, (name, response.text)

    # Streamed with no Content-Length: the cap applies mid-stream as well.
    def chunks() -> Any:
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    streamed = relay.anon.post(f"/callbacks/runway/{a_token}", content=chunks())
    statuses["oversize_streamed"] = streamed.status_code
    assert streamed.status_code == 413

    fuzzed: Counter[int] = Counter()
    original = _segments(a_token)

    @settings(
        max_examples=TOKEN_FUZZ,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        st.one_of(
            st.tuples(st.integers(0, len(a_token) - 1), st.sampled_from(_URLSAFE + ".")).map(
                lambda p: a_token[: p[0]] + p[1] + a_token[p[0] + 1 :]
            ),
            st.text(_URLSAFE + ".", min_size=1, max_size=300),
            st.text(min_size=1, max_size=100),
        )
    )
    def forged_token(token: str) -> None:
        try:
            same = token.count(".") == 2 and _segments(token) == original
        except ValueError:
            same = False
        assume(not same)  # another spelling of the very same bytes is not a forgery
        # A token ending in "/" meets Starlette's trailing-slash redirect first: follow it.
        response = relay.anon.post(
            f"/callbacks/runway/{quote(token, safe='')}", content=body_a, follow_redirects=True
        )
        fuzzed[response.status_code] += 1
        assert response.status_code in (403, 404), (token, response.text)

    forged_token()
    after = snapshot()
    changed = [key for key in before if before[key] != after[key]]
    assert not changed, f"rejected requests changed {changed}"
    assert relay.anon.get("/readyz").status_code == 200

    figures.record(
        "callback_rejections",
        backend=backend_of(storage_url),
        statuses=statuses,
        fuzzed_tokens=sum(fuzzed.values()),
        fuzzed_token_statuses={str(k): v for k, v in sorted(fuzzed.items())},
        state_changes=len(changed),
    )


def test_replayed_callback_is_recorded_and_delivered_once(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    sim.faults(drop_rate=1.0)
    relay = make_relay([webhook(sink)], polling={"callback_grace_seconds": 600})
    task_id, upstream_id, token = _submit_queued(relay)
    body = callback_body(upstream_id)

    limits = httpx.Limits(max_connections=10)
    with httpx.Client(base_url=relay.url, timeout=15, limits=limits) as client:

        def send(_: int) -> httpx.Response:
            return client.post(f"/callbacks/runway/{token}", content=body)

        started = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(send, range(REPLAYS)))
        seconds = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * REPLAYS
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * (REPLAYS - 1)
    task = relay.wait_task(task_id, settled)
    time.sleep(0.5)  # a second delivery, if any, would be out by now
    stored = [e for e in task["events"] if e["source"] == "callback"]
    # Kept once, as a claim; the state delivered once came from CometAPI's answer.
    assert len(stored) == 1 and not stored[0]["applied"]
    assert [e["source"] for e in task["events"] if e["applied"]][-1] == "poll"
    assert len(task["deliveries"]) == 1
    assert len(sink.received()) == 1
    figures.record(
        "callback_replay",
        backend=backend_of(storage_url),
        replays=REPLAYS,
        concurrency=10,
        answered_200=sum(r.status_code == 200 for r in responses),
        stored_events=len(stored),
        deliveries=len(task["deliveries"]),
        downstream_received=len(sink.received()),
        seconds=round(seconds, 2),
    )


def test_callback_racing_poll_delivers_each_state_once(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    # Running and terminal callbacks, the terminal one sent twice and 0.1 s after the task
    # ends, against polls every 0.1 s: the poll and the callback report the same change
    # within a poll interval of each other, and either may come first.
    sim.faults(progress_callbacks=True, duplicate=1, delay_seconds=0.1)
    relay = make_relay(
        [webhook(sink, events=ALL_STATES)],
        polling={
            "callback_grace_seconds": 0.25,
            "interval_seconds": 0.1,
            "backoff_factor": 1,
            "task_not_exist_grace_seconds": 5,
        },
    )
    task_ids = []
    for _ in range(RACE_TASKS):
        task_ids.append(relay.submit(**video2video()).json()["id"])
        time.sleep(0.013)  # spread submissions over the poller's tick
    tasks = {t: relay.wait_task(t, settled) for t in task_ids}
    wait_for(lambda: len(sim.callbacks()) >= 3 * RACE_TASKS)
    time.sleep(0.5)
    tasks = {t: relay.task(t) for t in task_ids}
    assert all(terminal(t) for t in tasks.values())

    got = Counter(
        (h["json"]["data"]["task_id"], h["json"]["data"]["state"]) for h in sink.received()
    )
    applied = Counter(
        (t, e["state"]) for t, task in tasks.items() for e in task["events"] if e["applied"]
    )
    assert got == applied and set(got.values()) == {1}
    delivered = Counter(
        (d["task_id"], d["event_id"]) for t in tasks.values() for d in t["deliveries"]
    )
    assert set(delivered.values()) == {1}

    winners: Counter[str] = Counter()
    gaps: list[float] = []
    for task in tasks.values():
        final = [e for e in task["events"] if e["state"] == task["state"]]
        [ending] = [e for e in final if e["applied"]]
        # Only a poll's answer changes a task. The terminal callback won the race when it
        # was in first: the poll that ended the task confirmed it (verdict_at is that poll's
        # time); otherwise the poll schedule got there on its own.
        assert ending["source"] == "poll", ending
        confirmed_at = {
            e["verdict_at"]
            for e in final
            if e["source"] == "callback" and e["verdict"] == "confirmed"
        }
        winners["callback" if ending["received_at"] in confirmed_at else "poll"] += 1
        # A terminal claim never stays open, and never disagrees with a genuine answer.
        assert {e["verdict"] for e in final if e["source"] == "callback"} <= {"confirmed"}
        by_source: dict[str, list[float]] = defaultdict(list)
        for e in final:
            by_source[e["source"]].append(e["received_at"])
        if by_source["poll"] and by_source["callback"]:
            gaps.append(abs(min(by_source["poll"]) - min(by_source["callback"])))
    figures.record(
        "callback_poll_race",
        backend=backend_of(storage_url),
        tasks=RACE_TASKS,
        callbacks_sent=len(sim.callbacks()),
        terminal_won_by_callback=winners["callback"],
        terminal_won_by_poll=winners["poll"],
        both_within_100ms=sum(g < 0.1 for g in gaps),
        deliveries=sum(got.values()),
        most_deliveries_of_one_task_state=max(got.values()),
    )
