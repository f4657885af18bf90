"""The AWS destinations against moto's server on loopback (tests/aws.py): SQS standard and
FIFO, SNS with an SQS subscription, EventBridge with a rule to SQS, and S3. Each gets the
document a webhook gets; each event arrives once per destination after a relay killed
between the send and its record (twice where docs/delivery.md says so, and counted); a
FIFO queue keeps a task's order; a throttled queue drains after the backoff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.aws import SECRET_KEY, Aws, aws_env, running_aws
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_console_keys import _csrf
from tests.e2e.test_tracing import spans_until
from tests.harness import (
    WAIT_SECONDS,
    WEBHOOK_SECRET,
    Relay,
    Sink,
    image_to_video,
    metric,
    settled,
    wait_for,
)
from tests.otlp import Collector

SIGNED = ("webhook-id", "webhook-timestamp", "webhook-signature")


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with running_aws() as running:
        yield running


@pytest.fixture
def proxy_reset(aws: Aws) -> Iterator[None]:
    yield
    aws.proxy.reset()


class Destinations:
    """One of each AWS format, and the queues where a test reads what they got."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.queue, _ = aws.queue()
        self.fifo, _ = aws.queue(fifo=True)
        self.topic_queue, topic_queue_arn = aws.queue()
        self.topic = aws.topic_to(topic_queue_arn)
        self.bus_queue, bus_queue_arn = aws.queue()
        self.bus = aws.bus_to(bus_queue_arn)
        self.bucket = aws.bucket()

    def downstreams(self, **common: Any) -> list[dict[str, Any]]:
        common = {
            "endpoint_url": self.aws.proxy.url,
            "secret_env": "HOOK_SECRET",
            "timeout": 8.0,
            **common,
        }
        return [
            {**common, "name": "sqs", "format": "sqs", "url": self.queue},
            {**common, "name": "sqs-fifo", "format": "sqs", "url": self.fifo},
            {**common, "name": "sns", "format": "sns", "url": self.topic},
            {**common, "name": "bus", "format": "eventbridge", "url": self.bus},
            {**common, "name": "archive", "format": "s3", "url": f"s3://{self.bucket}/relay"},
        ]


def verified(attributes: dict[str, str], body: str) -> dict[str, Any]:
    event: dict[str, Any] = Webhook(WEBHOOK_SECRET).verify(body, {k: attributes[k] for k in SIGNED})
    return event


def sqs_attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def sns_attributes(envelope: dict[str, Any]) -> dict[str, str]:
    return {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}


def collect(
    aws: Aws, queue: str, wanted: int, timeout: float = WAIT_SECONDS
) -> list[dict[str, Any]]:
    """Read `queue` until it has given `wanted` messages (then once more: none beyond)."""
    got: list[dict[str, Any]] = []

    def enough() -> bool:
        got.extend(aws.messages(queue))
        return len(got) >= wanted

    wait_for(enough, timeout=timeout)
    got.extend(aws.messages(queue))
    return got


def _first_of_repeats(messages: list[dict[str, Any]], field: str | None = None) -> dict[str, Any]:
    """The one message a delivery made, and any repeats of it (at least once: a publish
    answered past its timeout on a busy machine is sent again), which must carry the same
    document (`field` of the body: what SNS and EventBridge wrap around it differs)."""
    first, *again = messages

    def document(message: dict[str, Any]) -> Any:
        return json.loads(message["Body"])[field] if field else message["Body"]

    assert all(document(m) == document(first) for m in again), messages
    return first


def states(relay: Relay, task_id: str) -> dict[str, tuple[str, int]]:
    task = relay.task(task_id)
    return {d["downstream"]: (d["state"], d["attempts"]) for d in task["deliveries"]}


def test_each_aws_destination_gets_the_document_a_webhook_gets(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path
) -> None:
    where = Destinations(aws)
    relay = make_relay(where.downstreams(), env=aws_env(tmp_path))
    task = relay.submitted(**image_to_video())
    done = relay.wait_task(task["id"], settled)
    assert {d["downstream"]: d["state"] for d in done["deliveries"]} == dict.fromkeys(
        ["sqs", "sqs-fifo", "sns", "bus", "archive"], "succeeded"
    )

    # At least once: a publish answered past its timeout on a busy machine is sent again.
    plain = _first_of_repeats(collect(aws, where.queue, 1))
    attributes = sqs_attributes(plain)
    event = verified(attributes, plain["Body"])
    assert event["data"]["task_id"] == task["id"] and event["type"] == "task.succeeded"
    filtered_on = ("task.succeeded", "succeeded", "image_to_video")
    assert (attributes["type"], attributes["state"], attributes["kind"]) == filtered_on

    [ordered] = collect(aws, where.fifo, 1)
    assert verified(sqs_attributes(ordered), ordered["Body"]) == event
    assert ordered["Attributes"]["MessageGroupId"] == task["id"]
    # The delivery's `webhook-id`: a repeated send of it is dropped, no other.
    [fifo_id] = [d["id"] for d in done["deliveries"] if d["downstream"] == "sqs-fifo"]
    assert ordered["Attributes"]["MessageDeduplicationId"] == fifo_id
    assert sqs_attributes(ordered)["webhook-id"] == fifo_id

    notified = _first_of_repeats(collect(aws, where.topic_queue, 1), "Message")
    envelope = json.loads(notified["Body"])
    sns = sns_attributes(envelope)
    assert verified(sns, envelope["Message"]) == event
    assert (sns["type"], sns["state"], sns["kind"]) == filtered_on

    routed = _first_of_repeats(collect(aws, where.bus_queue, 1), "detail")
    bridged = json.loads(routed["Body"])
    assert (bridged["source"], bridged["detail-type"]) == ("runway-relay", "task.succeeded")
    assert bridged["detail"] == event

    [(key, body)] = aws.objects(where.bucket).items()
    day = key.split("/")[1]
    assert key == f"relay/{day}/{task['id']}/{event['data']['event_id']}.json"
    assert json.loads(body) == event
    assert SECRET_KEY not in relay.log()


def test_a_relay_killed_between_send_and_record_delivers_each_event_once_per_destination(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path, proxy_reset: None
) -> None:
    """The services took every message; the relay died before it recorded one. Started
    again, it sends them again: the FIFO queue and S3 keep one, the standard queue, topic
    and bus carry the one repeat docs/delivery.md announces, with the same webhook-id."""
    where = Destinations(aws)
    # Time enough for all five sends to be taken before any attempt times out; on
    # PostgreSQL the relay started again takes the rows over when their lease ends.
    downstreams = where.downstreams(timeout=15.0)
    relay = make_relay(downstreams, env=aws_env(tmp_path), delivery={"lease_seconds": 20})
    aws.proxy.hold()
    before = aws.proxy.passed
    task = relay.submitted(**image_to_video())
    wait_for(lambda: aws.proxy.passed - before >= 5)
    relay.kill()  # every service has the message; no attempt is recorded
    aws.proxy.release()
    relay.start()
    relay.wait_task(task["id"], settled, timeout=60)
    # One attempt each: the killed one was never recorded.
    assert states(relay, task["id"]) == dict.fromkeys(
        ["sqs", "sqs-fifo", "sns", "bus", "archive"], ("succeeded", 1)
    )

    # Once: dropped by SQS (the event id is the deduplication id) and S3 (one key).
    [ordered] = collect(aws, where.fifo, 1)
    assert len(aws.objects(where.bucket)) == 1
    # Twice, counted: the same message, sent again.
    plain = collect(aws, where.queue, 2)
    notified = collect(aws, where.topic_queue, 2)
    routed = collect(aws, where.bus_queue, 2)
    repeats = {
        "sqs": {sqs_attributes(m)["webhook-id"] for m in plain},
        "sns": {sns_attributes(json.loads(m["Body"]))["webhook-id"] for m in notified},
        "bus": {json.loads(m["Body"])["detail"]["data"]["event_id"] for m in routed},
    }
    assert (len(plain), len(notified), len(routed)) == (2, 2, 2)
    assert all(len(ids) == 1 for ids in repeats.values()), repeats
    assert verified(sqs_attributes(ordered), ordered["Body"])["data"]["task_id"] == task["id"]


def test_a_fifo_queue_keeps_each_tasks_events_in_order(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path
) -> None:
    fifo, _ = aws.queue(fifo=True)
    every = ["queued", "running", "succeeded"]
    downstream = {
        "name": "fifo",
        "format": "sqs",
        "url": fifo,
        "endpoint_url": aws.proxy.url,
        "events": every,
        "timeout": 8.0,
        # A FIFO queue keeps what it is sent in order; the relay sends a task's next event
        # once the one before it is settled only when asked to.
        "ordering": "task",
    }
    relay = make_relay([downstream], env=aws_env(tmp_path))
    # Running for 10 s: polled as running however busy the machine is (a CI run at a load
    # of 15 missed a 3 s run, and with it the event this test waits for).
    prompt = "queue=0.3 run=10"
    tasks = [relay.submitted(**image_to_video(promptText=prompt))["id"] for _ in range(3)]
    for task_id in tasks:
        relay.wait_task(task_id, settled)
    got = collect(aws, fifo, 3 * len(every), timeout=3 * WAIT_SECONDS)  # one at a time, in turn
    by_task: dict[str, list[str]] = {}
    for message in got:
        group = message["Attributes"]["MessageGroupId"]
        by_task.setdefault(group, []).append(sqs_attributes(message)["state"])
    assert by_task == {task_id: every for task_id in tasks}


def test_a_throttled_queue_drains_after_the_backoff(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path, proxy_reset: None
) -> None:
    """AWS answers ThrottlingException to the first sends: the relay backs off and sends
    again within the attempt, and no throttled send is counted a failed attempt."""
    queue, _ = aws.queue()
    downstream = {
        "name": "throttled",
        "format": "sqs",
        "url": queue,
        "endpoint_url": aws.proxy.url,
        "timeout": 8.0,
    }
    relay = make_relay([downstream], env=aws_env(tmp_path))
    before = aws.proxy.throttled
    aws.proxy.throttle(4)
    tasks = [relay.submitted(**image_to_video())["id"] for _ in range(3)]
    for task_id in tasks:
        done = relay.wait_task(task_id, settled)
        [delivery] = done["deliveries"]
        assert (delivery["state"], delivery["attempts"]) == ("succeeded", 1)
    assert aws.proxy.throttled - before == 4
    got = collect(aws, queue, len(tasks))
    assert sorted(json.loads(m["Body"])["data"]["task_id"] for m in got) == sorted(tasks)


def test_aws_downstreams_are_made_through_the_api_and_the_console(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path
) -> None:
    queue, _ = aws.queue()
    bucket = aws.bucket()
    relay = make_relay(env=aws_env(tmp_path))
    made = relay.api.post(
        "/v1/downstreams",
        json={
            "name": "api-queue",
            "format": "sqs",
            "url": queue,
            "endpoint_url": aws.proxy.url,
            "region": "us-east-1",
            "timeout": 8.0,
        },
    )
    assert made.status_code == 201, made.text
    shown = relay.api.get("/v1/downstreams/api-queue").json()
    assert (shown["format"], shown["url"]) == ("sqs", queue)
    assert (shown["region"], shown["endpoint_url"]) == ("us-east-1", aws.proxy.url)
    wrong = relay.api.post(
        "/v1/downstreams", json={"name": "x", "format": "sns", "url": "https://sns.example/"}
    )
    assert wrong.status_code == 422 and "topic ARN" in wrong.text, wrong.text

    console = relay.console()
    page = console.get("/console/deliveries")
    for fmt in ("sqs", "sns", "eventbridge", "s3"):
        assert f'<option value="{fmt}"' in page.text
    csrf = _csrf(page)
    archive = {"name": "page-archive", "format": "s3", "url": f"s3://{bucket}/from-page"}
    fields = {**archive, "endpoint_url": aws.proxy.url, "key": "{task_id}/{event_id}.json"}
    answer = console.post(
        "/console/downstreams",
        data={"csrf": csrf, "action": "create", "events": "succeeded", **fields},
    )
    assert answer.status_code == 200 and 'id="secret-value"' in answer.text, answer.text

    task = relay.submitted(**image_to_video())
    done = relay.wait_task(task["id"], settled)
    assert {d["downstream"]: d["state"] for d in done["deliveries"]} == {
        "api-queue": "succeeded",
        "page-archive": "succeeded",
    }
    [message] = collect(aws, queue, 1)
    assert json.loads(message["Body"])["data"]["task_id"] == task["id"]
    [key] = aws.objects(bucket)
    assert key.startswith(f"from-page/{task['id']}/evt_") and key.endswith(".json")


def test_a_queue_that_is_not_there_dead_letters_then_replays_counted_per_downstream(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path
) -> None:
    """SQS refusing the send (no such queue) is a failed attempt, retried, then a dead
    letter; once the queue exists, the replay delivers it. The metrics count each outcome
    under the downstream's name."""
    name = f"relay-later-{uuid.uuid4().hex[:8]}"
    later = f"{aws.moto_url}/123456789012/{name}"
    downstream = {
        "name": "later",
        "format": "sqs",
        "url": later,
        "endpoint_url": aws.proxy.url,
        "timeout": 8.0,
    }
    relay = make_relay([downstream], env=aws_env(tmp_path))
    task = relay.submitted(**image_to_video())
    done = relay.wait_task(task["id"], lambda t: settled(t) and t["deliveries"])
    [dead] = done["deliveries"]
    assert (dead["state"], dead["attempts"]) == ("dead", 4)  # 1 + 3 retries
    assert "not delivered" in dead["last_error"] and "NonExistentQueue" in dead["last_error"]

    created = aws.sqs.create_queue(QueueName=name)["QueueUrl"]
    replayed = relay.api.post("/v1/deliveries/replay", params={"downstream": "later"})
    assert replayed.status_code == 200 and replayed.json()["replayed"] == 1
    relay.wait_task(task["id"], lambda t: t["deliveries"][0]["state"] == "succeeded")
    [message] = collect(aws, created, 1)
    assert json.loads(message["Body"])["data"]["task_id"] == task["id"]

    text = relay.scrape()
    counted = {
        outcome: metric(text, "relay_deliveries_total", downstream="later", outcome=outcome)
        for outcome in ("retry", "dead", "succeeded")
    }
    assert counted == {"retry": 3, "dead": 1, "succeeded": 1}


def test_each_aws_message_carries_the_task_trace(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path, collector: Collector
) -> None:
    where = Destinations(aws)
    chosen = [d for d in where.downstreams() if d["name"] in ("sqs", "sns", "archive")]
    relay = make_relay(chosen, env={**aws_env(tmp_path), **collector.env()})
    task = relay.submitted(**image_to_video())
    spans = spans_until(collector, task["id"], "task.submit", *["delivery.attempt"] * 3)
    [submit] = [s for s in spans if s.name == "task.submit"]
    attempt = {s.attr("downstream"): s.span_id for s in spans if s.name == "delivery.attempt"}
    # At least once: a publish answered past its timeout on a busy machine is sent again.
    plain = _first_of_repeats(collect(aws, where.queue, 1))
    # At least once: a publish answered past its timeout on a busy machine is sent again.
    notified, *again = collect(aws, where.topic_queue, 1)
    assert all(
        json.loads(n["Body"])["Message"] == json.loads(notified["Body"])["Message"] for n in again
    )
    [(key, _)] = aws.objects(where.bucket).items()
    stored = aws.s3.head_object(Bucket=where.bucket, Key=key)["Metadata"]
    carried = {
        "sqs": sqs_attributes(plain)["traceparent"],
        "sns": sns_attributes(json.loads(notified["Body"]))["traceparent"],
        "archive": stored["traceparent"],
    }
    for name, traceparent in carried.items():
        _, trace_id, parent_id, _ = traceparent.split("-")
        assert (trace_id, parent_id) == (submit.trace_id, attempt[name]), name


def test_a_refused_eventbridge_entry_fails_that_event_alone(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path, proxy_reset: None
) -> None:
    """PutEvents answers 200 with the entry refused: that event's attempt failed (and is
    retried), the same event to SQS is not touched; an entry refused for throttling is
    backed off within its attempt."""
    where = Destinations(aws)
    chosen = [d for d in where.downstreams() if d["name"] in ("sqs", "bus")]
    relay = make_relay(chosen, env=aws_env(tmp_path))
    aws.proxy.refuse_entries("InternalFailure", "ThrottlingException")
    task = relay.submitted(**image_to_video())
    relay.wait_task(task["id"], settled)
    assert states(relay, task["id"]) == {"sqs": ("succeeded", 1), "bus": ("succeeded", 2)}
    [first, second] = _bus_attempts(relay, task["id"])
    assert first["outcome"] == "retry" and "InternalFailure" in first["error"]
    assert second["outcome"] == "succeeded"
    assert len(collect(aws, where.bus_queue, 1)) == 1
    assert len(collect(aws, where.queue, 1)) == 1


def _bus_attempts(relay: Relay, task_id: str) -> list[dict[str, Any]]:
    attempts = [a for a in relay.task(task_id)["attempts"] if a["downstream"] == "bus"]
    return sorted(attempts, key=lambda a: a["number"])


def test_aws_destinations_take_filters_transforms_and_headers(
    make_relay: MakeRelay, aws: Aws, tmp_path: Path
) -> None:
    """A filter picks the events, a transform gives the message, and the signature is over
    the message as sent: the same for an AWS format as for a webhook."""
    queue, _ = aws.queue(shaped=True)  # a transform makes each body
    bucket = aws.bucket(shaped=True)
    shaping = {
        "endpoint_url": aws.proxy.url,
        "secret_env": "HOOK_SECRET",
        "events": ["queued", "running", "succeeded"],
        "filter": 'event.data.state == "succeeded"',
        "transform": '{"task": event.data.task_id, "kind": event.data.kind}',
        "timeout": 8.0,
    }
    downstreams = [
        {**shaping, "name": "sqs", "format": "sqs", "url": queue},
        {**shaping, "name": "archive", "format": "s3", "url": f"s3://{bucket}/shaped"},
    ]
    relay = make_relay(downstreams, env=aws_env(tmp_path))
    task = relay.submitted(**image_to_video())
    done = relay.wait_task(task["id"], settled)
    by_state: dict[str, set[str]] = {}
    for d in done["deliveries"]:
        by_state.setdefault(d["downstream"], set()).add(d["state"])
    assert by_state == {"sqs": {"filtered", "succeeded"}, "archive": {"filtered", "succeeded"}}

    [message] = collect(aws, queue, 1)
    shaped = {"task": task["id"], "kind": "image_to_video"}
    assert verified(sqs_attributes(message), message["Body"]) == shaped
    [(_, body)] = aws.objects(bucket).items()
    assert json.loads(body) == shaped


def test_kinesis_gets_the_event_keyed_by_its_task(
    make_relay: MakeRelay, aws: Aws, sink: Sink, tmp_path: Path
) -> None:
    stream = aws.stream()
    kinesis = {"name": "stream", "format": "kinesis", "url": stream, "timeout": 8.0}
    relay = make_relay(
        [webhook(sink), {**kinesis, "endpoint_url": aws.proxy.url}], env=aws_env(tmp_path)
    )
    task = relay.submitted(**image_to_video())
    [hit] = wait_for(lambda: sink.accepted("/hook") or None)
    [record] = wait_for(lambda: aws.records(stream) or None)
    assert record["PartitionKey"] == task["id"]  # one task's events in one shard, in order
    assert json.loads(record["Data"]) == json.loads(hit["body"])
    wait_for(lambda: states(relay, task["id"])["stream"] == ("succeeded", 1))
    # What is not a stream's ARN is refused, saying what is.
    bad = relay.api.post("/v1/downstreams", json={**kinesis, "url": "arn:aws:sqs:x"})
    assert bad.status_code == 422 and "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME" in bad.text
