"""`format = "sns"`: one message per event to a topic, at its ARN, delivered once SNS answers
with its message id. Message attributes `type`, `state` and `kind` let subscribers filter; a
FIFO topic orders a task's events as a FIFO queue does (receiver/destinations/sqs.py). Its
client (receiver/destinations/aws_client.py) comes with the `aws` extra."""

from __future__ import annotations

import re
from typing import Any

from receiver.destinations.aws import AwsDestination, AwsTarget, arn_of
from receiver.destinations.aws_client import AwsPublisher, as_string_attributes, attributes
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms
from receiver.destinations.sqs import event_attributes, ordering
from receiver.kernel.errors import DownstreamError

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}(\.fifo)?$")


class SnsDestination(AwsDestination):
    metadata = METADATA["sns"]
    wanted = "the topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"

    def problem(self, url: str) -> str:
        arn, wrong = arn_of(url, "sns")
        if arn is None or _TOPIC_NAME.match(arn["rest"]):
            return wrong
        return (
            f"its topic {arn['rest']!r} is not 1 to 256 letters, digits, - and _"
            " (.fifo at the end for a FIFO topic)"
        )

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        assert isinstance(target, AwsTarget)
        return Sns(target, max_in_flight)


class Sns(AwsPublisher):
    service = "sns"

    async def send(self, client: Any, message: BrokerMessage) -> None:
        answer = await client.publish(
            TopicArn=self.target.url,
            Message=message.body.decode(),
            MessageAttributes=as_string_attributes(attributes(message, event_attributes(message))),
            **ordering(self.target.url, message),
        )
        if not answer.get("MessageId"):
            raise DownstreamError("not delivered: SNS answered without a message id")


PROVIDER = SnsDestination()
