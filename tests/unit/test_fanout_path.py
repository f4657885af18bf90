"""The fan-out's one path, piece by piece: a provider opens a publisher, the publisher takes
a message and answers an Outcome the retry rules judge, whatever the destination. Here the
publishing side, with a fake client (tests/e2e/test_publishers.py sends HTTP ones)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from receiver.config import DownstreamConfig
from receiver.destinations.provider import PublishingDestination
from receiver.destinations.publishing import (
    BrokerMessage,
    BrokerTarget,
    Confirming,
    Message,
    Opening,
    Outcome,
)
from receiver.destinations.registry import PROVIDERS, open_publisher, render
from receiver.kernel.errors import DownstreamError
from receiver.outbox.rules.delivery import RetryPolicy, decide

POLICY = RetryPolicy((1.0, 5.0), 0.0, 60.0)
EVENT = {"type": "task.succeeded", "state": "succeeded", "kind": "video", "task_id": "t1"}


class Client:
    """A broker's client that confirms, refuses, or never answers, as told."""

    def __init__(self, refusal: BaseException | None = None, hang: bool = False) -> None:
        self.sent: list[BrokerMessage] = []
        self.refusal, self.hang, self.closed = refusal, hang, False

    async def publish(self, message: BrokerMessage) -> None:
        self.sent.append(message)
        if self.hang:
            await asyncio.Event().wait()
        if self.refusal is not None:
            raise self.refusal

    async def close(self) -> None:
        self.closed = True


def _message() -> Message:
    return Message("dlv_1", b'{"a":1}', EVENT, {"webhook-id": "dlv_1", "x-static": "1"})


def _published(client: Client, timeout: float = 5.0) -> Outcome:
    target = BrokerTarget("nats", "nats://127.0.0.1:4222", "runway.{kind}.{state}", timeout=timeout)
    return asyncio.run(Confirming(client, target).publish(_message()))


def test_a_confirmed_publish_succeeds_with_the_events_type_where_its_template_names() -> None:
    client = Client()
    outcome = _published(client)
    assert decide(POLICY, 1, outcome.answer, 0.0).outcome == "succeeded"
    assert outcome.posted is None and outcome.excerpt is None
    [sent] = client.sent
    assert sent.name == "runway.video.succeeded" and sent.body == b'{"a":1}'
    assert sent.headers == {
        "webhook-id": "dlv_1",
        "x-static": "1",
        "webhook-type": "task.succeeded",
    }


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        (DownstreamError("publish failed: no stream"), "publish failed: no stream"),
        (ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
    ],
)
def test_a_refusal_is_a_failure_retried_on_schedule(refusal: BaseException, said: str) -> None:
    outcome = _published(Client(refusal))
    assert outcome.answer.status is None and said in str(outcome.answer.failure)
    assert decide(POLICY, 1, outcome.answer, 0.0).outcome == "retry"


def test_no_confirm_within_the_timeout_is_a_failure() -> None:
    outcome = _published(Client(hang=True), timeout=0.05)
    assert outcome.answer.failure == "no confirm within 0.05s"


def test_a_pull_downstream_is_settled_at_once() -> None:
    settings = DownstreamConfig.model_validate({"name": "p", "format": "pull"})

    async def published() -> Outcome:
        publisher = open_publisher(settings, Opening("p", 1))
        try:
            return await publisher.publish(_message())
        finally:
            await publisher.close()

    assert asyncio.run(published()).answer.confirmed


@pytest.mark.parametrize(
    "fmt", [f for f, p in PROVIDERS.items() if isinstance(p, PublishingDestination)]
)
def test_every_publisher_sends_the_webhook_event(fmt: str) -> None:
    document: dict[str, Any] = {**EVENT, "occurred_at": 1.0}
    assert render(fmt, document).body == render("webhook", document).body
