"""`format = "sqs"`: one message per event to a queue, at its queue URL, delivered once SQS
answers with its message id."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from receiver.destinations.aws import AwsDestination, is_fifo
from receiver.destinations.aws_client import AwsPublisher, as_string_attributes, attributes
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage
from receiver.kernel.errors import DownstreamError

_QUEUE_PATH = re.compile(r"^/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")
# sqs.eu-west-1.amazonaws.com, or the legacy eu-west-1.queue.amazonaws.com.
_SQS_HOST = re.compile(r"^(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$")


def event_attributes(message: BrokerMessage) -> dict[str, str]:
    """What subscribers filter on: the event's type, state and kind."""
    event = message.event
    return {
        "type": message.headers.get("webhook-type", ""),
        "state": str(event.get("state") or ""),
        "kind": str(event.get("kind") or ""),
    }


def fifo_fields(url: str, message: BrokerMessage) -> dict[str, str]:
    """A FIFO queue's or topic's group (the task: its events stay in order) and dedup id
    (the delivery's: a repeated send of it is dropped, another delivery of the event not)."""
    if not is_fifo(url):
        return {}
    return {
        "MessageGroupId": str(message.event.get("task_id") or "relay"),
        "MessageDeduplicationId": message.headers["webhook-id"],
    }


class Sqs(AwsPublisher):
    """A message with the event's attributes, to a queue; SNS's topics take the same."""

    service = "sqs"
    call, to, body = "send_message", "QueueUrl", "MessageBody"

    async def send(self, client: Any, message: BrokerMessage) -> None:
        answer = await getattr(client, self.call)(
            **{self.to: self.target.url, self.body: message.body.decode()},
            MessageAttributes=as_string_attributes(attributes(message, event_attributes(message))),
            **fifo_fields(self.target.url, message),
        )
        if not answer.get("MessageId"):
            said = f"not delivered: {self.service.upper()} answered without a message id"
            raise DownstreamError(said)


class SqsDestination(AwsDestination):
    metadata = METADATA["sqs"]
    wanted = "the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
    publisher = Sqs

    def problem(self, url: str) -> str:
        parts = urlsplit(url)
        # http only for a local stand-in (moto, LocalStack); AWS itself answers on https.
        if parts.scheme not in ("https", "http"):
            return f"its scheme {parts.scheme!r} is not https"
        if not parts.hostname:
            return "it names no host"
        if not _QUEUE_PATH.match(parts.path):
            return (
                f"its path {parts.path!r} is not /ACCOUNT/NAME: a 12-digit account, a name of"
                " 1 to 80 letters, digits, - and _ (.fifo at the end for a FIFO queue)"
            )
        return ""

    def region_in(self, url: str) -> str | None:
        if found := _SQS_HOST.match(urlsplit(url).hostname or ""):
            return found[1] or found[2]
        return None


PROVIDER = SqsDestination()
