"""`format = "s3"`: every event as one JSON object in `s3://bucket/prefix`, under the
downstream's key template (`{date}/{task_id}/{event_id}.json` by default). An event has one
key, whichever attempt or replay writes it, and the write is conditional (`If-None-Match:
*`): an object already there is that event, delivered before, never written twice."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from receiver.destinations.aws_client import AwsPublisher
from receiver.destinations.publishing import Message
from receiver.destinations.s3 import object_key, s3_location
from receiver.kernel.errors import DownstreamError

ALREADY_THERE = 412


class S3Archive(AwsPublisher):
    service = "s3"

    async def send(self, client: Any, message: Message) -> None:
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
