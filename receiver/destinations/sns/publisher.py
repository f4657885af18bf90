"""`format = "sns"`: one message per event to a topic, delivered once SNS answers with its
message id. Message attributes `type`, `state` and `kind` let subscribers filter; a FIFO
topic orders a task's events as a FIFO queue does (receiver/destinations/sqs/publisher.py)."""

from __future__ import annotations

from typing import Any

from receiver.destinations.aws_client import AwsPublisher, as_string_attributes, attributes
from receiver.destinations.publishing import Message
from receiver.destinations.sqs.publisher import event_attributes, ordering
from receiver.kernel.errors import DownstreamError


class Sns(AwsPublisher):
    service = "sns"

    async def send(self, client: Any, message: Message) -> None:
        answer = await client.publish(
            TopicArn=self.target.url,
            Message=message.body.decode(),
            MessageAttributes=as_string_attributes(attributes(message, event_attributes(message))),
            **ordering(self.target.url, message),
        )
        if not answer.get("MessageId"):
            raise DownstreamError("not delivered: SNS answered without a message id")
