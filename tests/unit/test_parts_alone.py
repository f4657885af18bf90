"""The submitter, the poller and the callback's route, each built alone from the few parts it
takes: a SQLite store in a temporary folder, a fake CometAPI client and a log that keeps its
lines; no service, no configuration file, no server. One task goes the whole way: sent,
polled, then called back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from receiver.callbacks.route import Callback
from receiver.config import Settings
from receiver.kernel.errors import RelayError
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import Store, open_store
from receiver.keys.rules import KeyLimits
from receiver.lifecycle.comet import Polled, Submitted
from receiver.lifecycle.handoff import DeliveryHandoff, PollHandoff, Wakers
from receiver.lifecycle.rules.records import NewTask
from receiver.lifecycle.rules.task import Observation
from receiver.lifecycle.transactions import polls
from receiver.outbox.rules.delivery import DELIVERY_STATES, DownstreamLabels
from receiver.tasks import reads
from receiver.tasks import transactions as task_transactions
from receiver.tasks.poller import Poller
from receiver.tasks.rules.inputs import holds_references
from receiver.tasks.submitter import Submitter
from receiver.wiring.worker_parts import WorkerParts, wakers_for
from tests.testkit import listed

SETTINGS = Settings()
OWNER = "here:1:abc"


class Lines:
    """A log that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def bind(self, **_: Any) -> Lines:
        return self

    def _keep(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    debug = info = warning = error = exception = _keep

    def events(self) -> list[str]:
        return [event for event, _ in self.lines]


class Comet:
    """CometAPI as the parts see it: takes every task as `up_1`, answers each poll with
    `answer`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.answer = Observation("running", "RUNNING", "up_1")

    async def submit(self, kind: str, body: Any) -> Submitted:
        self.sent.append((kind, body))
        return Submitted("up_1", '{"id": "up_1"}', 200)

    async def poll(self, kind: str, upstream_task_id: str) -> Polled:
        return Polled(self.answer, "{}")


def _parts(store: Store, log: Lines, wakers: Wakers) -> WorkerParts:
    return WorkerParts(store, Metrics(DELIVERY_STATES, DownstreamLabels()), log, OWNER, wakers)


def _signer() -> CallbackSigner:
    return CallbackSigner(["k" * 32], 600, "http://relay.test")


def _submitter(parts: WorkerParts, comet: Comet) -> Submitter:
    polling = SETTINGS.polling
    return Submitter(
        parts, comet, _signer(), listed({}), SETTINGS.upstream, polling.scan_seconds, 0.0
    )


def _poller(parts: WorkerParts, comet: Comet) -> Poller:
    recording = polls.PollPolicy(listed({}), SETTINGS.callbacks.corroborate_seconds)
    handoffs = (PollHandoff(), DeliveryHandoff())
    return Poller(parts, comet, handoffs, SETTINGS.polling, recording, 60.0)


def _callback(parts: WorkerParts) -> Callback:
    lease = SETTINGS.polling.lease(OWNER)
    return Callback(parts, _signer(), PollHandoff(), listed({}), lease, SETTINGS.callbacks, 5.0)


async def _called_back(route: Callback, token: str, body: bytes) -> tuple[int, Any]:
    """The route called as the server calls it: its answer's status and JSON."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path_params": {"token": token},
        "headers": [(b"content-length", b"%d" % len(body))],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await route(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


async def _story(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    await store.migrate()
    comet, log = Comet(), Lines()
    parts = _parts(store, log, wakers_for(SETTINGS))
    try:
        new = NewTask("generate", {"prompt": "a cat", "model": "gen3"})
        task, _ = await task_transactions.queue(store, new, KeyLimits())

        # Sent: CometAPI gets the request with the task's own callback URL.
        [job] = await task_transactions.claim(store, OWNER, None, 8)
        await _submitter(parts, comet).send(job)
        [(kind, body)] = comet.sent
        assert kind == "generate" and not holds_references(body)
        assert body["callback_url"].startswith("http://relay.test/callbacks/runway/")
        sent = await reads.task(store, task.id)
        assert sent is not None and sent.upstream_task_id == "up_1"
        assert "task_transactions.accepted" in log.events()

        # Polled: CometAPI says it runs, and the task does.
        [poll] = await polls.claim(store, SETTINGS.polling.lease(OWNER), 10)
        await _poller(parts, comet).poll_one(poll)
        polled = await reads.task(store, task.id)
        assert polled is not None and polled.state == "running"
        assert "poll.state_changed" in log.events()

        # Called back: the claim is kept, pending till CometAPI agrees.
        route = _callback(parts)
        token = body["callback_url"].rsplit("/", 1)[1]
        claim = {"code": 200, "msg": "", "data": {"task_id": "up_1", "status": "SUCCESS"}}
        status, answer = await _called_back(route, token, json.dumps(claim).encode())
        assert (status, answer) == (200, {"ok": True, "task_id": task.id, "duplicate": False})
        event, fields = log.lines[-1]
        assert (event, fields["verdict"], fields["claimed_state"]) == (
            "callback.received",
            "pending",
            "succeeded",
        )

        # A forged token is refused (the application's handler answers the error) and logged.
        with pytest.raises(RelayError):
            await _called_back(route, "forged", b"{}")
        assert log.lines[-1][0] == "callback.rejected"
    finally:
        await store.close()


def test_the_submitter_the_poller_and_the_callback_each_run_on_their_own_parts(
    tmp_path: Path,
) -> None:
    asyncio.run(_story(tmp_path))
