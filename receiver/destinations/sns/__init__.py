"""`format = "sns"`: a topic, at its ARN. Its publisher (publisher.py) comes with the `aws`
extra."""

from __future__ import annotations

import re

from receiver.destinations.aws import ARN, AwsDestination
from receiver.destinations.publishing import BrokerTarget, Publisher

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}(\.fifo)?$")


class SnsDestination(AwsDestination):
    format = "sns"
    wanted = "the topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
    stand_in_url = "arn:aws:sns:us-east-1:000000000000:sealed"

    def valid(self, url: str) -> bool:
        arn = ARN.match(url)
        return bool(arn and arn["service"] == "sns" and _TOPIC_NAME.match(arn["rest"]))

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.sns.publisher import Sns

        return Sns(target, max_in_flight)


PROVIDER = SnsDestination()
