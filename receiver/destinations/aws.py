"""What the AWS destinations share, read without any AWS library (their client,
aws_client.py, comes with the `aws` extra). Credentials are never settings: AWS's own chain
finds them (the standard variables, a profile, the container's role)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from receiver.destinations.provider import PublishingDestination
from receiver.destinations.publishing import BrokerTarget, Confirms

if TYPE_CHECKING:
    from receiver.destinations.aws_client import AwsPublisher

ARN = re.compile(
    r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):\d{12}:(?P<rest>.+)$"
)


def arn_problem(url: str, service: str, resource: re.Pattern[str], part: str, wanted: str) -> str:
    """Why `url` is not an ARN of `service` whose resource is `wanted`; "" for a right one."""
    arn = ARN.match(url)
    if arn is None:
        return "it is not an ARN: arn:aws:SERVICE:REGION:ACCOUNT:NAME, a 12-digit account"
    if arn["service"] != service:
        return f"it is an ARN of {arn['service']}, not of {service}"
    if not resource.match(arn["rest"]):
        return f"its {part} {arn['rest']!r} is not {wanted}"
    return ""


@dataclass(frozen=True)
class AwsTarget(BrokerTarget):
    region: str | None = None  # None: the AWS default (environment or profile)
    endpoint_url: str | None = None


class AwsDestination(PublishingDestination):
    """An AWS service at its `url`: `wanted` says what that is, `problem` what is wrong."""

    wanted = ""
    publisher: type[AwsPublisher]

    def problem(self, url: str) -> str:
        """Which part of the address is wrong, and why; "" for a right one."""
        raise NotImplementedError

    def region_in(self, url: str) -> str | None:
        if arn := ARN.match(url):
            return arn["region"] or None
        return None

    def check_url(self, url: str) -> str:
        if wrong := self.problem(url):
            raise ValueError(f"a {self.metadata.format} downstream's url is {self.wanted}: {wrong}")
        return url

    def target(self, settings: Any, target: type[AwsTarget] = AwsTarget, **own: Any) -> AwsTarget:
        return target(
            self.metadata.format,
            settings.url,
            "",
            timeout=settings.timeout,
            region=settings.region or self.region_in(settings.url),
            endpoint_url=settings.endpoint_url,
            **own,
        )

    def target_addresses(self, settings: Any) -> list[str]:
        return [self.address(settings.url)] + (
            [settings.endpoint_url] if settings.endpoint_url else []
        )

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        endpoint = settings.endpoint_url
        return [] if endpoint is None else [("endpoint_url", endpoint)]

    def address(self, url: str) -> str:
        return url

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        assert isinstance(target, AwsTarget)
        return self.publisher(target, max_in_flight)


def is_fifo(url: str) -> bool:
    """A FIFO queue or topic: its name ends in `.fifo`."""
    return url.rstrip("/").endswith(".fifo")
