"""What the `kafka` destination costs per event beside a bare aiokafka producer, both against
one Tansu broker on loopback (tests/kafka.py), in the same run, in alternating slices.

The relay's publisher (receiver/destinations/kafka.py's `Kafka`, as the fan-out calls it:
the task id as key, the Standard Webhooks headers, `acks=all`, each publish awaited until
the broker acknowledged it) against `AIOKafkaProducer.send_and_wait` of the same body with
the same key, headers and `acks=all`. Two figures each: the latency of one event sent alone
(median and p99), and the CPU per event with 8 in flight (a downstream's `max_in_flight`).
Tansu's memory engine refuses the idempotent producer: both run without it. A third, the
relay's publisher as an app's downstream runs it (each broker judged before it is dialled,
each send raced against a refusal), says what judging costs a send.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from harness import Bench, Row, log, verdict

from receiver.config import DownstreamConfig
from receiver.destinations.kafka import PROVIDER, Kafka
from receiver.destinations.publishing import BrokerMessage
from receiver.outbox.rules.event_types import example

IN_FLIGHT = 8
# The relay's own work per event on top of the client's: at most this much CPU more.
TARGET_RATIO = 1.5


def run(bench: Bench) -> None:
    from tests.kafka import Tansu

    slices, size = (4, 100) if bench.plan.quick else (10, 200)
    broker = Tansu()
    try:
        out = asyncio.run(_measure(broker.bootstrap, slices, size))
    finally:
        broker.stop()
    bench.results["kafka"] = out
    log(f"kafka: {out}")


def _message() -> BrokerMessage:
    event = example("task.succeeded")
    body = orjson.dumps(event)
    headers = {
        "webhook-id": "msg_2mZkqG8bench",
        "webhook-timestamp": str(int(time.time())),
        "webhook-type": "task.succeeded",
        "webhook-signature": "v1," + "A" * 44,
    }
    return BrokerMessage(body, headers, "bench-events", event["data"])


async def _measure(bootstrap: str, slices: int, size: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    message = _message()
    downstream = DownstreamConfig.model_validate(
        {"name": "bench", "format": "kafka", "url": f"kafka://{bootstrap}/bench-events"}
        | {"idempotent": False}
    )
    target = PROVIDER.target(downstream)
    assert target is not None
    relay = Kafka(target)
    judged = Kafka(replace(target, allowed=("kafka://127.0.0.1:*/bench-*",)))
    bare = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=0
    )
    await bare.start()
    key = str(message.event["task_id"]).encode()
    headers = [(k, v.encode()) for k, v in message.headers.items()]

    async def by_bare() -> None:
        await bare.send_and_wait("bench-events", message.body, key=key, headers=headers)

    async def by_relay() -> None:
        await relay.publish(message)

    async def by_judged() -> None:
        await judged.publish(message)

    sends = {"relay": by_relay, "judged": by_judged, "bare": by_bare}
    try:
        for send in sends.values():  # connections open, topic made, before timing
            await send()
        alone: dict[str, list[float]] = {name: [] for name in sends}
        cpu: dict[str, list[float]] = {name: [] for name in sends}
        for _ in range(slices):
            for name, send in sends.items():
                alone[name] += await _alone(send, size)
                cpu[name].append(await _cpu_in_flight(send, size))
    finally:
        await relay.close()
        await judged.close()
        await bare.stop()
    return {
        "events": slices * size,
        **{
            name: {
                "alone_p50_ms": round(statistics.median(alone[name]) * 1000, 3),
                "alone_p99_ms": round(_p99(alone[name]) * 1000, 3),
                "cpu_us_per_event": round(statistics.median(cpu[name]) * 1e6, 1),
            }
            for name in sends
        },
    }


async def _alone(send: Callable[[], Awaitable[None]], size: int) -> list[float]:
    times = []
    for _ in range(size):
        started = time.perf_counter()
        await send()
        times.append(time.perf_counter() - started)
    return times


async def _cpu_in_flight(send: Callable[[], Awaitable[None]], size: int) -> float:
    """Process CPU per event with IN_FLIGHT sends out at once (the broker runs in another
    process: only the client's side is counted)."""
    started = time.process_time()
    for _ in range(size // IN_FLIGHT):
        await asyncio.gather(*(send() for _ in range(IN_FLIGHT)))
    return (time.process_time() - started) / (size // IN_FLIGHT * IN_FLIGHT)


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def rows(r: dict[str, Any]) -> list[Row]:
    if "kafka" not in r:
        return []
    relay, bare = r["kafka"]["relay"], r["kafka"]["bare"]
    ratio = relay["cpu_us_per_event"] / bare["cpu_us_per_event"]
    judged = r["kafka"].get("judged")
    more = (
        []
        if judged is None
        else [
            (
                f"Kafka publish CPU per event, {IN_FLIGHT} in flight, brokers judged (an app's)",
                f"{judged['cpu_us_per_event']:.0f} µs"
                f" = {judged['cpu_us_per_event'] / bare['cpu_us_per_event']:.2f}x bare aiokafka",
                f"<= {TARGET_RATIO:g}x",
                verdict(judged["cpu_us_per_event"] <= bare["cpu_us_per_event"] * TARGET_RATIO),
            )
        ]
    )
    return [
        *more,
        (
            "Kafka publish, one event alone (p50 / p99)",
            f"{relay['alone_p50_ms']:.2f} / {relay['alone_p99_ms']:.2f} ms; bare aiokafka"
            f" {bare['alone_p50_ms']:.2f} / {bare['alone_p99_ms']:.2f} ms",
            "as bare aiokafka",
            verdict(relay["alone_p50_ms"] <= bare["alone_p50_ms"] * TARGET_RATIO),
        ),
        (
            f"Kafka publish CPU per event, {IN_FLIGHT} in flight",
            f"{relay['cpu_us_per_event']:.0f} µs = {ratio:.2f}x bare aiokafka"
            f" ({bare['cpu_us_per_event']:.0f} µs)",
            f"<= {TARGET_RATIO:g}x",
            verdict(ratio <= TARGET_RATIO),
        ),
    ]
