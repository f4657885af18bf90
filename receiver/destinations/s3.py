"""`format = "s3"`: every event as one JSON object under `s3://BUCKET/PREFIX`, at a key of
its own, whichever attempt or replay writes it; the write is conditional: an object already
there is that event, delivered before, never written twice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from receiver.destinations.aws import AwsDestination, AwsTarget
from receiver.destinations.aws_client import AwsPublisher
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage
from receiver.destinations.settings import KEY_PLACEHOLDERS, check_s3_path
from receiver.kernel.errors import DownstreamError

DEFAULT_KEY = "{date}/{task_id}/{event_id}.json"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ALREADY_THERE = 412


@dataclass(frozen=True)
class S3Target(AwsTarget):
    key: str = DEFAULT_KEY  # the object key template


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and the key prefix (with its trailing slash, or empty) of `s3://B/P`."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def object_key(prefix: str, template: str, event: dict[str, Any]) -> str:
    """Where an event is written (the date is the event's own, never the attempt's)."""
    occurred = event.get("occurred_at")
    values = {key: str(event.get(key) or "") for key in KEY_PLACEHOLDERS}
    day = datetime.fromtimestamp(float(occurred), UTC).strftime("%Y-%m-%d") if occurred else ""
    values["date"] = day or "undated"
    return prefix + template.format_map(values)


class S3Archive(AwsPublisher):
    service = "s3"
    target: S3Target

    async def send(self, client: Any, message: BrokerMessage) -> None:
        from botocore.exceptions import ClientError

        bucket, prefix = s3_location(self.target.url)
        key = object_key(prefix, self.target.key, dict(message.event))
        try:
            answer = await client.put_object(
                Bucket=bucket,
                Key=key,
                Body=message.body,
                ContentType="application/json",
                Metadata=dict(message.headers),
                IfNoneMatch="*",
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == ALREADY_THERE:
                return  # this event's object: an earlier attempt wrote it
            raise
        if not answer.get("ETag"):
            raise DownstreamError("not delivered: S3 answered without an ETag")


class S3Destination(AwsDestination):
    metadata = METADATA["s3"]
    wanted = "s3://BUCKET/PREFIX"
    publisher = S3Archive

    def problem(self, url: str) -> str:
        if not url.startswith("s3://"):
            return "it does not start with s3://"
        bucket, _ = s3_location(url)
        if not _BUCKET.match(bucket):
            return (
                f"its bucket {bucket!r} is not a bucket's name: 3 to 63 lowercase letters,"
                " digits, . and -, starting and ending with a letter or digit"
            )
        return ""

    def check_url(self, url: str) -> str:
        super().check_url(url)
        check_s3_path("its prefix", url.removeprefix("s3://").partition("/")[2])
        return url

    def target(self, settings: Any, target: type[AwsTarget] = S3Target, **own: Any) -> AwsTarget:
        return super().target(settings, target, key=settings.key or DEFAULT_KEY, **own)

    def address(self, url: str) -> str:
        """`s3://BUCKET/PREFIX/`, as the operator's patterns match it."""
        bucket, prefix = s3_location(url)
        return f"s3://{bucket}/{prefix}"


PROVIDER = S3Destination()
