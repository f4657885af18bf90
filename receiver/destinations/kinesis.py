"""`format = "kinesis"`: one record per event to a Kinesis data stream, at its ARN, delivered
once Kinesis answers with the record's sequence number. The partition key is the task id,
so one task's events land in one shard, in order."""

from __future__ import annotations

import re
from typing import Any

from receiver.destinations.aws import AwsDestination, arn_problem
from receiver.destinations.aws_client import AwsPublisher
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage
from receiver.kernel.errors import DownstreamError

_STREAM = re.compile(r"^stream/[A-Za-z0-9_.-]{1,128}$")


class Kinesis(AwsPublisher):
    service = "kinesis"

    async def send(self, client: Any, message: BrokerMessage) -> None:
        answer = await client.put_record(
            StreamARN=self.target.url,
            Data=message.body,
            # A relay's own event (a downstream disabled) has no task: one key for them all.
            PartitionKey=str(message.event.get("task_id") or "relay"),
        )
        if not answer.get("SequenceNumber"):
            raise DownstreamError("not delivered: Kinesis answered without a sequence number")


class KinesisDestination(AwsDestination):
    metadata = METADATA["kinesis"]
    wanted = "the stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
    publisher = Kinesis

    def problem(self, url: str) -> str:
        return arn_problem(
            url, "kinesis", _STREAM, "resource", "stream/NAME, of 1 to 128 letters, digits, _ . -"
        )


PROVIDER = KinesisDestination()
