"""Crash safety: SIGKILL the relay at random moments while callbacks and deliveries fly.

A client keeps submitting video2video tasks (retrying with its Idempotency-Key when the
relay is down), a fast simulator answers each with one callback, and a slow sink keeps
deliveries in flight. The relay is killed and restarted on the same port and store again
and again. Afterwards nothing may be missing: every callback the relay answered 2xx is in
the store, every task is terminal, every applied terminal event reached every downstream.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.lifecycle.comet import parse_callback
from tests.conftest import MakeRelay, webhook
from tests.fault.conftest import SimFactory
from tests.fault.support import LEDGER, Figures, all_tasks, backend_of, pending_deliveries, size
from tests.harness import (
    OLD_SIGNING_SECRET,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Relay,
    Sink,
    terminal,
    verify_standard_webhook,
    video2video,
    wait_for,
)

# What a killed relay had committed is what each backend kept.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

CYCLES = size("FAULT_KILL_CYCLES", 8)  # on each backend; 160 s of CI at 20
SINK_DELAY = 0.15  # every delivery is in flight this long: kills land mid-delivery
DOWNSTREAMS = ("hook", "chat")
_SLACK_TASK = re.compile(r"task (tsk_[0-9a-f]+) ")


class Client(threading.Thread):
    """Submits tasks back to back; a request the relay did not answer is retried, same key."""

    def __init__(self, relay: Relay) -> None:
        super().__init__(name="fault-client", daemon=True)
        self.relay = relay
        self.stopping = threading.Event()
        self.task_ids: list[str] = []
        self.retried = 0
        self.replayed = 0  # answered 200: the first attempt had created the task

    def run(self) -> None:
        rng = random.Random(3)
        while not self.stopping.is_set():
            key = uuid.uuid4().hex
            body = video2video(prompt="FAIL" if rng.random() < 0.2 else "redraw")
            while True:
                try:
                    response = self.relay.api.post(
                        "/v1/tasks", json=body, headers={"Idempotency-Key": key}, timeout=5
                    )
                except httpx.HTTPError:
                    self.retried += 1
                    time.sleep(0.05)
                    continue
                LEDGER.note_response(response)
                assert response.status_code in (200, 202), response.text
                self.replayed += response.status_code == 200
                self.task_ids.append(response.json()["id"])
                break
            time.sleep(0.03)


def _task_of_hit(hit: dict[str, Any]) -> str:
    if hit["path"] == "/hook":
        task_id: str = hit["json"]["data"]["task_id"]
        return task_id
    match = _SLACK_TASK.search(hit["json"]["text"])
    assert match, hit["body"]
    return match.group(1)


@pytest.mark.timeout(600 + 6 * CYCLES)
def test_sigkill_loop_loses_nothing(
    make_relay: MakeRelay, make_sim: SimFactory, sink: Sink, figures: Figures, storage_url: str
) -> None:
    upstream = make_sim(seed=11, queued_seconds=0.1, running_seconds=0.3, not_exist_seconds=0.1)
    upstream.faults(fail_rate=0.1)
    sink.mode(delay_seconds=SINK_DELAY)
    relay = make_relay(
        [
            webhook(sink, timeout=1.0),
            {"name": "chat", "url": f"{sink.url}/chat", "format": "slack", "timeout": 1.0},
        ],
        upstream={"base_url": upstream.url, "timeout_seconds": 1},
        polling={
            "callback_grace_seconds": 1.0,
            "interval_seconds": 0.2,
            "max_interval_seconds": 0.5,
            "lease_seconds": 1.5,
        },
        # Leases outlast the downstream timeout, so a live worker never loses its own rows.
        delivery={"retry_schedule": [0.2, 0.4, 0.8, 1.6, 3.2], "lease_seconds": 1.5},
    )
    client = Client(relay)
    client.start()
    rng = random.Random(CYCLES)
    kills: list[float] = []
    started = time.monotonic()
    for _ in range(CYCLES):
        time.sleep(rng.uniform(0.1, 0.7))
        kills.append(time.time())
        relay.kill()
        time.sleep(rng.uniform(0.0, 0.4))  # callbacks sent now meet a closed port
        relay.start()
    restarted = time.monotonic()
    client.stopping.set()
    client.join(30)
    assert not client.is_alive()

    def settled() -> bool:
        return all(terminal(t) for t in all_tasks(relay)) and pending_deliveries(relay) == 0

    wait_for(settled, timeout=60, interval=0.2)
    settle_seconds = time.monotonic() - restarted
    tasks = {t["id"]: relay.task(t["id"]) for t in all_tasks(relay)}
    assert set(client.task_ids) <= set(tasks)

    # 1. Every callback the relay answered 2xx is in the store, with the state it carried.
    signer = CallbackSigner([OLD_SIGNING_SECRET, SIGNING_SECRET], 3600, relay.url)
    callbacks = upstream.callbacks()
    answered = [c for c in callbacks if c["status"] is not None and 200 <= c["status"] < 300]
    missing = 0
    for callback in answered:
        task = tasks[signer.verify(callback["url"].rsplit("/", 1)[1])]
        _, claim = parse_callback(callback["body"].encode())
        state = claim.state
        stored = [e for e in task["events"] if e["source"] == "callback" and e["state"] == state]
        missing += len(stored) != 1
    assert missing == 0, f"{missing} acknowledged callbacks are not in the store"

    # 2. Every task ended, by a callback CometAPI confirmed, by polling, or failed because
    # its submit was cut off.
    finals = {}
    ended_by: Counter[str] = Counter()
    for task in tasks.values():
        assert terminal(task), task
        [final] = [e for e in task["events"] if e["applied"] and e["state"] == task["state"]]
        finals[task["id"]] = final
        confirmed_at = {e["verdict_at"] for e in task["events"] if e["verdict"] == "confirmed"}
        by_callback = final["source"] == "poll" and final["received_at"] in confirmed_at
        ended_by["callback" if by_callback else final["source"]] += 1
        if final["source"] == "submit":
            assert "submission interrupted" in task["error"], task

    # 3. Every applied terminal event reached every downstream at least once.
    hits = [h for h in sink.received() if h["path"] in ("/hook", "/chat")]
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for hit in hits:
        by_id[hit["headers"]["webhook-id"]].append(hit)
    lost = 0
    for task in tasks.values():
        event_id = finals[task["id"]]["id"]
        for name in DOWNSTREAMS:
            ids = [
                d["id"]
                for d in task["deliveries"]
                if d["event_id"] == event_id and d["downstream"] == name
            ]
            assert len(ids) == 1, (task["id"], name, task["deliveries"])
            lost += not any(200 <= h["status"] < 300 for h in by_id[ids[0]])
        assert all(d["state"] == "succeeded" for d in task["deliveries"]), task["deliveries"]
    assert lost == 0, f"{lost} terminal events never reached a downstream"

    # 4. Repeats exist (a kill mid-delivery means a resend) but carry the one webhook-id,
    # and each is explained by a kill that struck between the first copy (or just before it
    # was read: the sink may read it after the kill) and the second: on a loaded machine the
    # attempt's record can follow its answer by over a second, and a kill then resends it.
    repeated = [group for group in by_id.values() if len(group) > 1]
    duplicates = sum(len(group) - 1 for group in repeated)
    # On a busy machine an answer can also come past the delivery's timeout: that attempt is
    # recorded failed and retried, a resend the relay knows of (each send has its attempt).
    attempts = {d["id"]: d["attempts"] for task in tasks.values() for d in task["deliveries"]}
    unexplained = sum(
        not any(
            group[0]["received_at"] - SINK_DELAY - 1.0 < k <= group[1]["received_at"] for k in kills
        )
        and len(group) > attempts.get(group[0]["headers"]["webhook-id"], 0)
        for group in repeated
    )
    assert unexplained == 0, f"{unexplained} webhook-ids were resent without a crash"
    ids_per_target: dict[tuple[str, str], set[str]] = defaultdict(set)
    for hit in hits:
        ids_per_target[(_task_of_hit(hit), hit["path"])].add(hit["headers"]["webhook-id"])
    assert all(len(ids) == 1 for ids in ids_per_target.values())
    known = {d["id"] for t in tasks.values() for d in t["deliveries"]}
    assert set(by_id) <= known
    assert all(
        verify_standard_webhook(WEBHOOK_SECRET, h["headers"], h["body"].encode())
        for h in hits
        if h["path"] == "/hook"
    )

    in_flight = sum(any(k - SINK_DELAY < h["received_at"] <= k for h in hits) for k in kills)
    figures.record(
        "crash_safety",
        backend=backend_of(storage_url),
        kill_cycles=CYCLES,
        kills_with_delivery_in_flight=in_flight,
        loop_seconds=round(restarted - started, 1),
        tasks=len(tasks),
        submit_retries=client.retried,
        submits_replayed=client.replayed,
        callbacks_sent=len(callbacks),
        callbacks_acknowledged=len(answered),
        callbacks_unanswered=len(callbacks) - len(answered),
        acknowledged_missing_from_store=missing,
        ended_by_callback=ended_by["callback"],
        ended_by_poll=ended_by["poll"],
        ended_by_interrupted_submit=ended_by["submit"],
        terminal_events=len(finals),
        deliveries_expected=len(finals) * len(DOWNSTREAMS),
        lost=lost,
        duplicate_deliveries=duplicates,
        duplicates_without_a_kill=unexplained,
        settle_seconds=round(settle_seconds, 1),
    )
