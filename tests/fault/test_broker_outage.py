"""A broker that goes away mid-run and comes back: nothing is lost, nothing is duplicated
beyond what the broker's own de-duplication drops, and nobody else waits meanwhile.

Each broker is reached through a TCP proxy of the tests' own (tests/fault/proxy.py): cutting
it closes every connection and refuses new ones, as a stopped broker does, without touching
the broker the machine runs for everyone. Kafka's broker (Tansu, tests/kafka.py) is one of
the test's own, which tells its clients to connect to the proxy: a Kafka client goes where
the broker's metadata says.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.brokers import PORTS, MqttTopic, NatsStream, RabbitQueue, RedisStream
from tests.conftest import MakeRelay, webhook
from tests.fault.proxy import Proxy
from tests.fault.support import Figures
from tests.harness import Sink, image_to_video, terminal, wait_for
from tests.kafka import KafkaTopic, Tansu
from tests.testkit import free_port

pytestmark = pytest.mark.fault

TASKS = 12
CUT_SECONDS = 3.0
# Long enough to outlast the cut: the last retry comes 12 s after the first attempt.
SCHEDULE = [0.5, 1.0, 2.0, 4.0, 4.5]


@pytest.fixture
def proxies() -> Iterator[dict[str, Proxy]]:
    made = {fmt: Proxy(port) for fmt, port in PORTS.items()}
    made["kafka"] = Proxy(free_port())
    yield made
    for proxy in made.values():
        proxy.close()


@pytest.mark.parametrize("fmt", ["amqp", "nats", "mqtt", "redis", "kafka"])
def test_a_broker_cut_mid_run_loses_nothing_and_holds_no_one_up(
    fmt: str,
    make_relay: MakeRelay,
    sink: Sink,
    proxies: dict[str, Proxy],
    figures: Figures,
    storage_url: str,
) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("the publishers are in-process and the same on both backends: once is enough")
    proxy = proxies[fmt]
    consumer, downstream, ids_of = _broker(fmt, proxy)
    try:
        relay = make_relay(
            [webhook(sink), downstream], delivery={"retry_schedule": SCHEDULE, "jitter": 0.1}
        )
        first = relay.submitted(**image_to_video())
        relay.wait_task(first["id"], terminal)
        wait_for(lambda: ids_of(consumer) or None)  # the connection is up and used

        proxy.cut(refuse=True)
        cut_at = time.monotonic()
        tasks = [relay.submitted(**image_to_video()) for _ in range(TASKS)]
        # The webhook beside the broker gets every event while the broker is away (the cut
        # lasts at least until this is seen, and the failed attempts show it reached the relay).
        wait_for(lambda: len(sink.accepted("/hook")) == TASKS + 1 or None)
        webhooks_done = time.monotonic() - cut_at
        wait_for(lambda: _attempts(relay, downstream["name"], "retry") or None)
        time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
        failed = _attempts(relay, downstream["name"], "retry")
        proxy.restore()
        restored_at = time.monotonic()

        def all_delivered() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = relay.api.get(
                "/v1/deliveries", params={"downstream": downstream["name"], "limit": 100}
            ).json()["deliveries"]
            done = len(rows) == TASKS + 1 and all(d["state"] == "succeeded" for d in rows)
            return rows if done else None

        rows = wait_for(all_delivered, timeout=60)
        recovered = time.monotonic() - restored_at
        seen = Counter(ids_of(consumer))
        expected = {d["id"] for d in rows}
        assert set(seen) == expected, "an event the relay counted as delivered is missing"
        repeats = sum(seen.values()) - len(seen)
        if fmt == "nats":
            assert repeats == 0  # JetStream drops a repeat by its Nats-Msg-Id
        assert {t["id"] for t in tasks} <= {
            json.loads(h["body"])["data"]["task_id"] for h in sink.accepted("/hook")
        }
    finally:
        consumer.delete()
    figures.record(
        "broker_outage",
        format=fmt,
        cut_seconds=CUT_SECONDS,
        events=TASKS + 1,
        failed_attempts_during_cut=failed,
        webhook_all_delivered_during_cut_s=round(webhooks_done, 2),
        all_in_broker_after_restore_s=round(recovered, 2),
        lost=0,
        repeats=repeats,
    )


def _attempts(relay: Any, downstream: str, outcome: str) -> int:
    rows = relay.api.get("/v1/deliveries", params={"downstream": downstream}).json()
    ids = [d["task_id"] for d in rows["deliveries"]]
    return sum(
        1
        for task_id in set(ids)
        for a in relay.task(task_id)["attempts"]
        if a["downstream"] == downstream and a["outcome"] == outcome
    )


def _broker(fmt: str, proxy: Proxy) -> tuple[Any, dict[str, Any], Callable[[Any], list[str]]]:
    """The consumer, the downstream through the proxy's port, and the webhook-ids read."""
    port = proxy.port
    # A short cool-off: what is measured is the reconnect, not the breaker's pause (20
    # failed attempts open it, for 30 s by default).
    common = {"name": f"{fmt}-cut", "format": fmt, "timeout": 2.0, "breaker_cool_off_seconds": 1.0}
    if fmt == "amqp":
        queue = RabbitQueue()
        url = f"amqp://guest:guest@127.0.0.1:{port}/"
        kept: list[str] = []

        def taken(q: Any) -> list[str]:
            kept.extend(h["webhook-id"] for h, _ in q.messages())
            return list(kept)

        return queue, {**common, "url": url, "routing_key": queue.name}, taken
    if fmt == "nats":
        stream = NatsStream()
        subject = f"{stream.subjects}.{{state}}"
        downstream = {**common, "url": f"nats://127.0.0.1:{port}", "subject": subject}
        return stream, downstream, lambda s: [h["webhook-id"] for h, _, _ in s.messages()]
    if fmt == "kafka":
        topic = _OwnTopic(proxy)
        # Tansu's memory engine refuses the idempotent producer.
        downstream = {**common, "url": topic.url, "idempotent": False}
        return topic, downstream, lambda t: [r.headers["webhook-id"] for r in t.messages()]
    if fmt == "mqtt":
        topic = MqttTopic()
        downstream = {**common, "url": f"mqtt://127.0.0.1:{port}", "topic": f"{topic.prefix}/x"}
        return topic, downstream, lambda t: [h["webhook-id"] for h, _, _ in t.messages()]
    redis = RedisStream()
    downstream = {**common, "url": f"redis://127.0.0.1:{port}/0", "stream": redis.name}
    return redis, downstream, lambda r: [h["webhook-id"] for h, _ in r.messages()]


class _OwnTopic(KafkaTopic):
    """A topic on a broker of its own, behind the proxy, stopped with the test."""

    def __init__(self, proxy: Proxy) -> None:
        super().__init__(Tansu(proxy.target_port, advertised=proxy.port))

    def delete(self) -> None:
        self.tansu.stop()
