"""AWS on loopback for the AWS destinations' tests: moto's server (SQS, SNS, EventBridge,
Kinesis, S3 in one process) behind a small proxy that the relay talks to. The proxy passes every
request on, and on demand answers AWS's throttling error itself, or holds the service's
answer back after the service took the request (a relay killed then has sent, and never
recorded, its send).

What the test reads is checked as it is read (tests/event_schemas.py): each SQS message, the
message inside each SNS envelope, the detail of each EventBridge event and each S3 object is
the relay's event, of the type its attributes name, valid against that type's schema; a
test fails on one that breaks it. Only a queue or bucket made `shaped=True` (its downstream
has a transform: the body is the transform's) is not.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.event_schemas import assert_message_is_its_event

REGION = "us-east-1"
# Dummy credentials, the AWS way (the standard variables): never in a config file.
ACCESS_KEY = "AKIARELAYTESTKEY0000"
SECRET_KEY = "relay-test-aws-secret-key-never-logged"
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


def aws_env(home: Path) -> dict[str, str]:
    """What a relay needs to find its credentials, and nothing that could send it past
    loopback: no instance metadata, no profile files of the machine."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


class Proxy:
    """Passes requests to `upstream`; `throttle(n)` answers the next n itself, `hold()`
    keeps each answer back until `release()`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.throttled = 0  # throttling answers given
        self.passed = 0  # requests the service took
        self._to_throttle = 0
        self._entry_errors: list[str] = []  # PutEvents answered 200, its entry refused
        self._held = threading.Event()
        self._held.set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                target = self.headers.get("x-amz-target")
                if proxy._take_throttle():
                    self._answer(*throttling_answer(target))
                    return
                if target == "AWSEvents.PutEvents" and (code := proxy._take_entry_error()):
                    self._answer(*refused_entry(code))
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                status, answer_body = answer.status, answer.read()
                kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP]
                conn.close()
                with proxy._lock:
                    proxy.passed += 1
                proxy._held.wait(60)
                self._answer(status, kept, answer_body)

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers:
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    return  # the relay was killed meanwhile

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _take_throttle(self) -> bool:
        with self._lock:
            if self._to_throttle <= 0:
                return False
            self._to_throttle -= 1
            self.throttled += 1
            return True

    def _take_entry_error(self) -> str | None:
        with self._lock:
            return self._entry_errors.pop(0) if self._entry_errors else None

    def refuse_entries(self, *codes: str) -> None:
        """The next PutEvents calls answer 200 with their one entry refused, by code."""
        with self._lock:
            self._entry_errors = list(codes)

    def throttle(self, requests: int) -> None:
        with self._lock:
            self._to_throttle = requests

    def hold(self) -> None:
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def reset(self) -> None:
        self.release()
        self.throttle(0)
        self.refuse_entries()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def throttling_answer(target: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """AWS's throttling error in the protocol of the call: JSON (SQS, EventBridge: their
    calls name an `X-Amz-Target`), else XML (SNS, S3)."""
    if target:
        body = {"__type": "com.amazonaws.sqs#ThrottlingException", "message": "Rate exceeded"}
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "ThrottlingException;Sender"),
        ]
        return 400, headers, json.dumps(body).encode()
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        "<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    return 400, [("Content-Type", "text/xml")], xml.encode()


def refused_entry(code: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """EventBridge's partial failure: the call succeeds, the entry does not."""
    body = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": "refused"}]}
    return 200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(body).encode()


class Aws:
    """moto's server and the proxy in front of it, with boto3 clients for the test's side."""

    def __init__(self) -> None:
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.proxy = Proxy(port)
        keys = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
        made = {"endpoint_url": self.moto_url, "region_name": REGION, **keys}
        self.sqs = boto3.client("sqs", **made)
        self.sns = boto3.client("sns", **made)
        self.events = boto3.client("events", **made)
        self.s3 = boto3.client("s3", **made)
        self.kinesis = boto3.client("kinesis", **made)
        self._queue_of_arn: dict[str, str] = {}
        self._via: dict[str, str] = {}  # a queue's URL: "sns" or "eventbridge" when it relays
        self._shaped: set[str] = set()  # queue URLs and buckets a transform's bodies go to

    def queue(self, fifo: bool = False, shaped: bool = False) -> tuple[str, str]:
        """A new queue: its URL and ARN."""
        name = f"relay-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        url: str = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        found = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn: str = found["Attributes"]["QueueArn"]
        self._queue_of_arn[arn] = url
        if shaped:
            self._shaped.add(url)
        return url, arn

    def topic_to(self, queue_arn: str) -> str:
        """A new topic whose messages go to the queue (not raw: SNS's envelope)."""
        arn: str = self.sns.create_topic(Name=f"relay-{uuid.uuid4().hex[:10]}")["TopicArn"]
        self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        self._via[self._queue_of_arn[queue_arn]] = "sns"
        return arn

    def bus_to(self, queue_arn: str) -> str:
        """A new event bus with a rule taking the relay's events to the queue."""
        name = f"relay-{uuid.uuid4().hex[:10]}"
        self.events.create_event_bus(Name=name)
        pattern = json.dumps({"source": ["runway-relay"]})
        self.events.put_rule(Name=name, EventBusName=name, EventPattern=pattern)
        self.events.put_targets(
            Rule=name, EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        self._via[self._queue_of_arn[queue_arn]] = "eventbridge"
        return name

    def stream(self) -> str:
        """A new Kinesis data stream of one shard: its ARN."""
        name = f"relay-{uuid.uuid4().hex[:10]}"
        self.kinesis.create_stream(StreamName=name, ShardCount=1)
        arn: str = self.kinesis.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"
        ]["StreamARN"]
        return arn

    def records(self, stream_arn: str) -> list[dict[str, Any]]:
        """Every record in the stream's shard, oldest first, each checked as the event
        (a record has no attributes: its type is the event's own)."""
        [shard] = self.kinesis.list_shards(StreamARN=stream_arn)["Shards"]
        iterator = self.kinesis.get_shard_iterator(
            StreamARN=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = self.kinesis.get_records(
            StreamARN=stream_arn, ShardIterator=iterator
        )["Records"]
        for record in records:
            named = json.loads(record["Data"])["type"]
            assert_message_is_its_event(record["Data"], named, f"kinesis {stream_arn}")
        return records

    def bucket(self, shaped: bool = False) -> str:
        name = f"relay-{uuid.uuid4().hex[:10]}"
        self.s3.create_bucket(Bucket=name)
        if shaped:
            self._shaped.add(name)
        return name

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message waiting now, taken off the queue (so a FIFO group moves on)."""
        taken: list[dict[str, Any]] = []
        while True:
            found = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not found:
                return taken
            for message in found:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                if queue_url not in self._shaped:
                    self._check(queue_url, message)
            taken += found

    def _check(self, queue_url: str, message: dict[str, Any]) -> None:
        """The event in an SQS message, as its queue gets it: sent to the queue itself, in
        an SNS envelope, or as an EventBridge event's detail."""
        via = self._via.get(queue_url, "sqs")
        where = f"{via} to {queue_url.rsplit('/', 1)[-1]}"
        if via == "sns":
            envelope = json.loads(message["Body"])
            named = envelope.get("MessageAttributes", {}).get("type", {}).get("Value")
            assert_message_is_its_event(envelope["Message"], named, where)
        elif via == "eventbridge":
            bridged = json.loads(message["Body"])
            assert_message_is_its_event(bridged["detail"], bridged["detail-type"], where)
        else:
            named = message.get("MessageAttributes", {}).get("type", {}).get("StringValue")
            assert_message_is_its_event(message["Body"], named, where)

    def objects(self, bucket: str) -> dict[str, bytes]:
        listed = self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        found = {}
        for o in listed:
            got = self.s3.get_object(Bucket=bucket, Key=o["Key"])
            found[o["Key"]] = body = got["Body"].read()
            if bucket not in self._shaped:
                named = got.get("Metadata", {}).get("webhook-type")
                assert_message_is_its_event(body, named, f"s3 object {o['Key']}")
        return found

    def close(self) -> None:
        self.proxy.close()
        self.moto.stop()


@contextmanager
def running_aws() -> Iterator[Aws]:
    aws = Aws()
    try:
        yield aws
    finally:
        aws.close()
