"""A broker's or a cloud's client, for a downstream from the API, dials only servers it
may, each judged as it connects. A Kafka cluster's metadata names its brokers, each judged
as the URL's servers are before the producer connects to it: here Tansu (tests/kafka.py)
answers for a broker at another port, one no pattern of the app's allows, never dialled.
An AWS `endpoint_url`'s name is judged at each connection aiobotocore makes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from receiver.destinations.amqp import AmqpTarget
from receiver.destinations.aws import AwsTarget
from receiver.destinations.provider import PublishingDestination
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms
from receiver.destinations.redis import RedisTarget
from receiver.destinations.registry import PROVIDERS
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net import guard
from tests.conftest import MakeRelay
from tests.e2e.test_apps import app_key, make_app
from tests.e2e.test_keys import as_key
from tests.e2e.test_task_routing import local_name_from_hosts_file
from tests.harness import image_to_video, wait_for
from tests.kafka import Tansu


def _client(target: BrokerTarget, name: str) -> Confirms:
    """The broker's or service's own client, as its provider opens it for the fan-out."""
    provider = PROVIDERS[target.format]
    assert isinstance(provider, PublishingDestination)
    return provider.open_publisher(target, name, 1)


class Trap:
    """A listener on loopback that counts the connections it is offered."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.dialled = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            self.dialled += 1
            conn.close()

    def close(self) -> None:
        self.server.close()
        self._thread.join(5)


@pytest.fixture
def trap() -> Iterator[Trap]:
    listening = Trap()
    yield listening
    listening.close()


def test_a_broker_the_cluster_names_outside_the_apps_patterns_is_never_dialled(
    make_relay: MakeRelay, trap: Trap
) -> None:
    tansu = Tansu(advertised=trap.port)
    try:
        pattern = f"kafka://127.0.0.1:{tansu.port}/alpha.*"
        relay = make_relay(delivery={"allowed_targets_by_app": {"alpha": [pattern]}})
        make_app(relay, "alpha")
        scopes = ["tasks:submit", "tasks:read", "downstreams"]
        alpha = as_key(relay, app_key(relay, "alpha", "alpha-key", scopes))
        url = f"kafka://127.0.0.1:{tansu.port}/alpha.events"
        body = {"name": "log", "format": "kafka", "url": url, "idempotent": False}
        made = alpha.post("/v1/downstreams", json={**body, "timeout": 2.0})
        assert made.status_code == 201, made.text
        task = alpha.post("/v1/tasks", json=image_to_video()).json()

        def tried() -> dict[str, Any] | None:
            rows = relay.task(task["id"])["deliveries"]
            return rows[0] if rows and rows[0]["last_error"] else None

        said = wait_for(tried)["last_error"]
        assert said.startswith(f"refused: 127.0.0.1:{trap.port}, a broker"), said
        assert trap.dialled == 0
    finally:
        tansu.stop()


async def _judge_public(host: str, port: int) -> None:
    await guard.check_resolved(host)  # as the fan-out judges a downstream from the API


def test_an_aws_endpoint_is_judged_at_each_connection(
    monkeypatch: pytest.MonkeyPatch, trap: Trap
) -> None:
    """A name that resolves to a local address is refused by the client's own resolver."""
    name = local_name_from_hosts_file()
    if name is None:
        pytest.skip("/etc/hosts names no local address but localhost")
    for variable, value in (("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")):
        monkeypatch.setenv(variable, value)
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    target = AwsTarget(
        "sqs",
        queue,
        "",
        timeout=5.0,
        region="us-east-1",
        endpoint_url=f"http://{name}:{trap.port}",
        judge=_judge_public,
    )

    async def publish() -> str:
        publisher = _client(target, "q")
        try:
            await publisher.publish(BrokerMessage(b"{}", {}, "", {"task_id": "t"}))
        except DownstreamError as exc:
            return exc.detail
        finally:
            await publisher.close()
        return "sent"

    said = asyncio.run(publish())
    assert said == f"publish failed: refused: {name} resolves to a private or local address"
    assert trap.dialled == 0


@pytest.mark.parametrize(
    ("fmt", "name"), [("amqp", ""), ("nats", "subject"), ("mqtt", "topic"), ("redis", "stream")]
)
def test_each_brokers_connection_is_judged_as_it_is_made(fmt: str, name: str, trap: Trap) -> None:
    """The publisher judges its server each time it connects, not once for the downstream."""
    host = local_name_from_hosts_file()
    if host is None:
        pytest.skip("/etc/hosts names no local address but localhost")
    url = f"{fmt}://{host}:{trap.port}"
    made = {"amqp": AmqpTarget, "redis": RedisTarget}.get(fmt, BrokerTarget)
    target = made(fmt, url, name, timeout=5.0, judge=_judge_public)

    async def publish() -> str:
        publisher = _client(target, "b")
        try:
            await publisher.publish(BrokerMessage(b"{}", {"webhook-id": "m"}, "s", {}))
        except DownstreamError as exc:
            return exc.detail
        finally:
            await publisher.close()
        return "sent"

    said = asyncio.run(publish())
    assert said.endswith(f"refused: {host} resolves to a private or local address"), said
    assert trap.dialled == 0
