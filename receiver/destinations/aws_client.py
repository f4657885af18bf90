"""What the AWS publishers share: one aiobotocore client per downstream, botocore's own
retries off (the relay's retries govern a delivery as they do every other destination's).
A throttling answer is no failure: every send of the downstream waits out a shared backoff
and tries again within the attempt's time; only a throttle that outlasts it fails it."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from receiver.destinations.aws import AwsTarget
from receiver.destinations.connection import Connected, Reconnecting
from receiver.destinations.publishing import BrokerMessage
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net.guard import resolver

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

# The error codes AWS services answer when they throttle (SQS, SNS, EventBridge, S3, STS).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "KMSThrottlingException",
        "ProvisionedThroughputExceededException",
    }
)
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 20.0
# SNS and SQS take at most ten message attributes; the event's own come first.
MAX_ATTRIBUTES = 10


class Throttled(Exception):
    """A throttling answer that came back as an entry's error, not as an HTTP error."""


def throttled(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in THROTTLING_CODES or status == 429


def refused(exc: ClientError) -> DownstreamError:
    """The service's refusal in its own words (which name a queue, never a credential)."""
    error = exc.response.get("Error", {})
    code = error.get("Code") or "error"
    message = str(error.get("Message") or "")[:160]
    return DownstreamError(f"not delivered: {code}: {message}".rstrip(": "))


class Throttle:
    """One downstream's backoff after a throttling answer, shared by all its sends."""

    def __init__(self) -> None:
        self.backoff: float | None = None
        self.until = 0.0

    def hit(self) -> None:
        """A throttling answer. Sends in flight together meet the same throttle: only one
        met after the last pause ended doubles the backoff."""
        now = time.monotonic()
        if now < self.until:
            return
        self.backoff = FIRST_BACKOFF if self.backoff is None else min(MAX_BACKOFF, self.backoff * 2)
        self.until = now + self.backoff * random.uniform(0.8, 1.0)

    def passed(self) -> None:
        self.backoff = None

    async def wait(self, deadline: float) -> None:
        """Wait out the backoff; DownstreamError when it ends past `deadline`."""
        pause = self.until - time.monotonic()
        if pause <= 0:
            return
        if time.monotonic() + pause > deadline:
            raise DownstreamError(f"throttled by the service (backing off {pause:.1f} s)")
        await asyncio.sleep(pause)


class AwsPublisher(Connected[Any]):
    """A publisher for one AWS service: a subclass says which, and sends a message."""

    service = ""

    def __init__(self, target: AwsTarget, max_in_flight: int) -> None:
        self.target = target
        self.max_in_flight = max_in_flight
        self.throttle = Throttle()
        self._conn = Reconnecting(self._open, self._shut, target.timeout)

    async def _open(self) -> Any:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session
        from botocore.exceptions import NoCredentialsError, NoRegionError

        target = self.target
        # An endpoint from the API: each connection's addresses judged as it is made (an
        # address written in the URL was judged when it was made), and no proxy of the
        # environment's, which would resolve the name past the guard.
        guarded = {"connector_args": {"resolver": resolver(False)}, "proxies": {}}
        config = AioConfig(
            retries={"max_attempts": 1, "mode": "standard"},  # the relay retries, not botocore
            connect_timeout=target.timeout,
            read_timeout=target.timeout,
            max_pool_connections=self.max_in_flight,
            user_agent_extra="runway-relay",
            **(guarded if target.judge is not None and target.endpoint_url else {}),
        )
        creating = get_session().create_client(
            self.service,
            region_name=target.region,
            endpoint_url=target.endpoint_url or None,
            config=config,
        )
        try:
            return await creating.__aenter__()
        except (NoCredentialsError, NoRegionError) as exc:
            raise DownstreamError(_setup_problem(exc)) from None

    @staticmethod
    async def _shut(client: Any) -> None:
        await client.__aexit__(None, None, None)

    async def publish(self, message: BrokerMessage) -> None:
        from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

        client = await self._conn.get()
        deadline = time.monotonic() + self.target.timeout
        while True:
            await self.throttle.wait(deadline)
            try:
                await self.send(client, message)
            except Throttled:
                self.throttle.hit()
                continue
            except ClientError as exc:
                if throttled(exc):
                    self.throttle.hit()
                    continue
                raise refused(exc) from None
            except DownstreamError:
                raise
            except (NoCredentialsError, NoRegionError) as exc:
                raise DownstreamError(_setup_problem(exc)) from None
            except Exception as exc:
                raise await self.broken(client, exc) from None
            self.throttle.passed()
            return

    async def send(self, client: Any, message: BrokerMessage) -> None:
        raise NotImplementedError


def _setup_problem(exc: Exception) -> str:
    from botocore.exceptions import NoRegionError

    if isinstance(exc, NoRegionError):
        return "no AWS region: set region on the downstream, or AWS_DEFAULT_REGION"
    return "no AWS credentials found (environment, profile or container role)"


def attributes(message: BrokerMessage, extra: dict[str, str]) -> dict[str, str]:
    """The message attributes: `extra`, then the headers, at most ten and none empty."""
    every = {**extra, **message.headers}
    kept = [(name, value) for name, value in every.items() if value]
    return dict(kept[:MAX_ATTRIBUTES])


def as_string_attributes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": v} for name, v in values.items()}
