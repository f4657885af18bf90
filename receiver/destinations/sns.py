"""`format = "sns"`: one message per event to a topic, at its ARN, as SQS's (sqs.py)."""

from __future__ import annotations

import re

from receiver.destinations.aws import AwsDestination, arn_problem
from receiver.destinations.metadata import METADATA
from receiver.destinations.sqs import Sqs

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}(\.fifo)?$")


class Sns(Sqs):
    service = "sns"
    call, to, body = "publish", "TopicArn", "Message"


class SnsDestination(AwsDestination):
    metadata = METADATA["sns"]
    wanted = "the topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
    publisher = Sns

    def problem(self, url: str) -> str:
        return arn_problem(
            url,
            "sns",
            _TOPIC_NAME,
            "topic",
            "1 to 256 letters, digits, - and _ (.fifo at the end for a FIFO topic)",
        )


PROVIDER = SnsDestination()
