"""SIGTERM under load: the relay drains as an orchestrator expects.

Clients keep submitting tasks, a prober keeps asking `/readyz`, deliveries are in flight
(a slow sink), and the relay gets SIGTERM. From that moment `/readyz` answers 503 while
requests are still served for `server.drain_seconds`; only then does the socket close,
and in-flight requests and deliveries finish within the grace. Counted: no request was
refused or failed before readiness turned, every task answered 202 is in the store, and
every delivery that had reached the sink was recorded as sent (none sent twice after a
restart on the same store); the restarted relay delivers the rest.
"""

from __future__ import annotations

import itertools
import signal
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.conftest import SimFactory
from tests.fault.support import Figures, all_tasks, backend_of, pending_deliveries
from tests.harness import ADMIN_TOKEN, Relay, Sink, terminal, video2video, wait_for

# A stopping relay gives its leases back in the store.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

DRAIN_SECONDS = 3.0
SINK_DELAY = 0.3  # every delivery is in flight this long when SIGTERM lands


@dataclass
class Timeline:
    """What happened, in the order it happened (a shared counter, not the clock)."""

    order: itertools.count[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    turned_at: int | None = None  # the first probe answered 503 (or not at all)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (when sent, why)
    accepted: list[tuple[int, str]] = field(default_factory=list)  # (when sent, task id)

    def tick(self) -> int:
        with self.lock:
            return next(self.order)


def _prober(relay: Relay, timeline: Timeline, stopping: threading.Event) -> None:
    with httpx.Client(base_url=relay.url, timeout=5) as client:
        while not stopping.is_set():
            try:
                ready = client.get("/readyz").status_code == 200
            except httpx.HTTPError:
                ready = False
            if not ready:
                timeline.turned_at = timeline.tick()
                return
            stopping.wait(0.02)


def _submitter(relay: Relay, timeline: Timeline, stopping: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=relay.url, timeout=10, headers=headers) as client:
        while not stopping.is_set():
            sent = timeline.tick()
            try:
                response = client.post(
                    "/v1/tasks", json=video2video(), headers={"Idempotency-Key": uuid.uuid4().hex}
                )
            except httpx.HTTPError as exc:
                timeline.failed.append((sent, type(exc).__name__))
                return  # the socket is closed: this client's part is over
            if response.status_code != 202:
                timeline.failed.append((sent, str(response.status_code)))
                return
            timeline.accepted.append((sent, response.json()["id"]))
            stopping.wait(0.03)


def test_sigterm_under_load_loses_nothing(
    make_relay: MakeRelay, make_sim: SimFactory, sink: Sink, figures: Figures, storage_url: str
) -> None:
    upstream = make_sim(seed=5, queued_seconds=0.1, running_seconds=0.2)
    sink.mode(delay_seconds=SINK_DELAY)
    relay = make_relay(
        [webhook(sink, timeout=1.5)],
        upstream={"base_url": upstream.url, "timeout_seconds": 1},
        server={"drain_seconds": DRAIN_SECONDS},
        delivery={"shutdown_grace_seconds": 5},
    )
    timeline, stopping = Timeline(), threading.Event()
    clients = [
        threading.Thread(target=_submitter, args=(relay, timeline, stopping), daemon=True)
        for _ in range(3)
    ]
    for client in clients:
        client.start()
    # Under load: tasks accepted and deliveries reaching the (slow) sink.
    wait_for(lambda: len(timeline.accepted) >= 20 and len(sink.received("/hook")) >= 3, 60)
    prober = threading.Thread(target=_prober, args=(relay, timeline, stopping), daemon=True)
    prober.start()
    assert relay.proc is not None
    signalled_at = timeline.tick()
    relay.proc.send_signal(signal.SIGTERM)
    prober.join(30)
    assert timeline.turned_at is not None, "readiness never turned"
    for client in clients:
        client.join(60)
    stopping.set()
    assert relay.proc.wait(60) == -signal.SIGTERM, relay.log()

    # 1. Nothing sent before readiness turned was refused or failed.
    early = [(sent, why) for sent, why in timeline.failed if sent < timeline.turned_at]
    assert not early, f"refused before readiness turned: {early}"
    # The drain kept serving: requests sent after readiness turned were still accepted.
    served_while_draining = sum(sent > timeline.turned_at for sent, _ in timeline.accepted)
    assert served_while_draining >= 1
    events = [line.get("event") for line in relay.log_lines()]
    assert "server.draining" in events and "service.stopped" in events

    # 2. Every delivery the sink had was recorded as sent: none is sent again on restart.
    delivered_before = Counter(h["headers"]["webhook-id"] for h in sink.received("/hook"))
    relay.start()

    def settled() -> bool:
        return all(terminal(t) for t in all_tasks(relay)) and pending_deliveries(relay) == 0

    wait_for(settled, timeout=90, interval=0.2)
    tasks = {t["id"]: relay.task(t["id"]) for t in all_tasks(relay)}
    accepted = {task_id for _, task_id in timeline.accepted}
    assert accepted <= set(tasks), "a task answered 202 is missing"
    delivered = Counter(h["headers"]["webhook-id"] for h in sink.received("/hook"))
    # A send the relay recorded as an attempt and retried (its answer past the timeout on a
    # busy machine) is a retry, not a loss: lost is a send with no attempt of its own. The
    # webhook-id is the delivery's id.
    recorded = {d["id"]: d["attempts"] for task in tasks.values() for d in task["deliveries"]}
    resent = [
        i
        for i in delivered_before
        if delivered[i] > delivered_before[i] and delivered[i] > recorded.get(i, 0)
    ]
    assert not resent, f"deliveries in flight at SIGTERM were sent again: {resent}"
    # 3. Every task's terminal event reached the downstream.
    for task in tasks.values():
        assert all(d["state"] == "succeeded" for d in task["deliveries"]), task["deliveries"]
    figures.record(
        "sigterm_drain",
        backend=backend_of(storage_url),
        accepted=len(accepted),
        accepted_while_draining=served_while_draining,
        failed_after_turn=len(timeline.failed),
        deliveries_before_sigterm_end=len(delivered_before),
        order_signal_to_turn=timeline.turned_at - signalled_at,
    )
