"""`format = "sqs"`: one message per event to a queue URL, delivered once SQS answers with
its message id. A FIFO queue gets the task id as message group (a task's events stay in
order) and the event id as deduplication id (a resend within SQS's five minutes is
dropped by SQS itself)."""

from __future__ import annotations

from typing import Any

from receiver.destinations.aws import is_fifo
from receiver.destinations.aws_client import AwsPublisher, as_string_attributes, attributes
from receiver.destinations.publishing import Message
from receiver.kernel.errors import DownstreamError


def event_attributes(message: Message) -> dict[str, str]:
    """What subscribers filter on: the event's type, state and kind."""
    event = message.event
    return {
        "type": message.headers.get("webhook-type", ""),
        "state": str(event.get("state") or ""),
        "kind": str(event.get("kind") or ""),
    }


def ordering(url: str, message: Message) -> dict[str, str]:
    """A FIFO queue's or topic's group (the task) and deduplication id (the event)."""
    if not is_fifo(url):
        return {}
    event_id = message.event.get("event_id") or message.headers["webhook-id"]
    return {
        "MessageGroupId": str(message.event.get("task_id") or "relay"),
        "MessageDeduplicationId": str(event_id),
    }


class Sqs(AwsPublisher):
    service = "sqs"

    async def send(self, client: Any, message: Message) -> None:
        answer = await client.send_message(
            QueueUrl=self.target.url,
            MessageBody=message.body.decode(),
            MessageAttributes=as_string_attributes(attributes(message, event_attributes(message))),
            **ordering(self.target.url, message),
        )
        if not answer.get("MessageId"):
            raise DownstreamError("not delivered: SQS answered without a message id")
