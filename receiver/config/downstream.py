"""A downstream's settings: one model for the config file's `[[downstreams]]` and for
the ones made through the API (address, format, events, channels, filter, transform and
headers), each checked before it is kept."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, cast
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from receiver.config.aws import AwsSettings, DownstreamFormat, check_aws_downstream_url
from receiver.config.expression_fields import DownstreamExpressions
from receiver.config.sections import CHANNEL, Section
from receiver.config.targets import (
    BROKER_SCHEMES,
    PLACEHOLDERS,
    TARGET_FIELD,
    WILDCARDS,
    placeholders,
)
from receiver.kernel.net.headers import header_problem
from receiver.lifecycle.rules.task import TERMINAL_STATES, State

HTTP_FORMATS = ("webhook", "slack", "discord", "teams", "telegram", "google_chat", "mattermost")


_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def check_downstream_url(fmt: str, url: str) -> str:
    """An http(s) URL for the HTTP formats, the broker's own scheme for a broker's, an AWS
    format's own address (receiver/config/aws.py)."""
    if (aws := check_aws_downstream_url(fmt, url)) is not None:
        return aws
    if fmt in BROKER_SCHEMES:
        schemes = BROKER_SCHEMES[fmt]
        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"a {fmt} downstream needs a {' or '.join(schemes)}:// URL")
        return url
    try:
        return str(_HTTP_URL.validate_python(url))
    except ValidationError:
        raise ValueError("must be an http(s) URL") from None


class DownstreamSettings(AwsSettings, Section, DownstreamExpressions):
    """What a downstream is, wherever it is declared (the config file, or the API)."""

    # Dots only inside, one at a time: never `.` or `..`, which paths and subjects read.
    name: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    ]
    format: DownstreamFormat = "webhook"
    url: str | None = None
    # Broker formats: where messages go. The routing key, subject, topic or stream may hold
    # {state}, {kind} and {task_id}, filled per event.
    exchange: str | None = None  # amqp; unset: the default exchange
    routing_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None  # amqp
    subject: Annotated[str, Field(min_length=1, max_length=255)] | None = None  # nats
    topic: Annotated[str, Field(min_length=1, max_length=255)] | None = None  # mqtt
    stream: Annotated[str, Field(min_length=1, max_length=255)] | None = None  # redis
    maxlen: Annotated[int, Field(gt=0)] | None = None  # redis: XADD MAXLEN ~
    # Only the tasks that name one of these in `channels` when submitted; none: every task.
    channels: list[Annotated[str, Field(pattern=CHANNEL)]] = Field(default_factory=list)
    # Task states, `progress` for a running task's progress events (throttled by
    # `delivery.progress_interval_seconds`), and `downstream.disabled` for the relay's
    # notice that it gave up on one.
    events: list[State | Literal["progress", "downstream.disabled"]] = sorted(TERMINAL_STATES)  # type: ignore[arg-type]
    timeout: Annotated[float, Field(gt=0)] = 10.0
    # One downstream's share of the fan-out: a slow or dead one can hold no more than this.
    max_in_flight: Annotated[int, Field(gt=0)] = 8
    rate_per_second: Annotated[float, Field(gt=0)] | None = None
    # Circuit breaker: at least `breaker_min_attempts` attempts in the last
    # `breaker_window_seconds`, and `breaker_failure_rate` of them failed, pause it; a probe
    # goes after the cool-off.
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.8
    breaker_min_attempts: Annotated[int, Field(gt=0)] = 20
    breaker_window_seconds: Annotated[float, Field(gt=0)] = 60.0
    breaker_cool_off_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Failing without a break this long disables it (Svix's default: 5 days).
    disable_after_seconds: Annotated[float, Field(gt=0)] = 5 * 24 * 3600.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        fmt = info.data.get("format")
        return value if value is None or fmt is None else check_downstream_url(fmt, value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if problem := header_problem(value):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _target(self) -> Self:
        """A broker format names where its messages go, and only that."""
        wanted = TARGET_FIELD.get(self.format)
        for key in (*TARGET_FIELD.values(), "exchange", "maxlen"):
            given = getattr(self, key) is not None
            belongs = key == wanted or (key, self.format) in (
                ("exchange", "amqp"),
                ("maxlen", "redis"),
            )
            if given and not belongs:
                raise ValueError(f"{key} is not a setting of a {self.format} downstream")
        if wanted is None:
            return self
        template = getattr(self, wanted)
        if template is None:
            raise ValueError(f"a {self.format} downstream needs {wanted}")
        try:
            unknown = placeholders(template) - PLACEHOLDERS
        except ValueError as exc:
            raise ValueError(f"{wanted}: {exc}") from None
        if unknown:
            raise ValueError(
                f"{wanted}: unknown placeholder {{{sorted(unknown)[0]}}} (known: {{state}},"
                " {kind}, {task_id})"
            )
        if wildcards := sorted(set(template) & set(WILDCARDS.get(self.format, ""))):
            raise ValueError(
                f"{wanted}: {' '.join(wildcards)} is a wildcard to {self.format}, not a name"
            )
        return self


class DownstreamConfig(DownstreamSettings):
    """One `[[downstream]]` of the config file: the operator's, trusted as written."""

    # Slack and Discord webhook URLs carry a secret in the path, broker URLs a password:
    # let them come from the env.
    url_env: str | None = None
    secret_env: str | None = None
    # A header's value from the environment (an API key).
    headers_env: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers_env")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        if problem := header_problem(dict.fromkeys(value, "")):
            raise ValueError(problem)
        return value


class ManagedDownstreamConfig(DownstreamSettings):
    """A downstream made through the API (`POST /v1/downstreams`): its URL is given, and its
    secret is the relay's to make."""

    url: Annotated[str, Field(max_length=2048)]


# What an answer shows of a downstream's settings as they are: every one but its name (shown
# with its health), its URL and its headers (they may hold credentials: both are masked).
SHOWN_SETTINGS = tuple(
    name for name in ManagedDownstreamConfig.model_fields if name not in ("name", "url", "headers")
)

# Every setting but the name, each optional: what `PATCH /v1/downstreams/{name}` takes.
DownstreamChange: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "DownstreamChange",
    __base__=Section,
    **{
        name: (cast(Any, info.annotation) | None, None)
        for name, info in ManagedDownstreamConfig.model_fields.items()
        if name != "name"
    },
)
