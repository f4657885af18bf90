"""`format = "sqs"`: a queue, at its queue URL. Its publisher (publisher.py) comes with the
`aws` extra."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from receiver.destinations.aws import AwsDestination
from receiver.destinations.publishing import BrokerTarget, Publisher

_QUEUE_PATH = re.compile(r"^/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")
# sqs.eu-west-1.amazonaws.com, or the legacy eu-west-1.queue.amazonaws.com.
_SQS_HOST = re.compile(r"^(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$")


class SqsDestination(AwsDestination):
    format = "sqs"
    wanted = "the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
    stand_in_url = "https://sqs.us-east-1.amazonaws.com/000000000000/sealed"

    def valid(self, url: str) -> bool:
        parts = urlsplit(url)
        # http only for a local stand-in (moto, LocalStack); AWS itself answers on https.
        ok_scheme = parts.scheme in ("https", "http")
        return ok_scheme and bool(parts.hostname) and bool(_QUEUE_PATH.match(parts.path))

    def region_in(self, url: str) -> str | None:
        """The region the queue URL's host names."""
        if found := _SQS_HOST.match(urlsplit(url).hostname or ""):
            return found[1] or found[2]
        return None

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Publisher:
        from receiver.destinations.sqs.publisher import Sqs

        return Sqs(target, max_in_flight)


PROVIDER = SqsDestination()
