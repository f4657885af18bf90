"""A downstream's settings: one model for the config file's `[[downstreams]]` and for
the ones made through the API (address, format, events, channels, filter, transform and
headers), each checked before it is kept."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, cast

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from receiver.config.expression_fields import DownstreamExpressions
from receiver.config.sections import CHANNEL, Section
from receiver.destinations.registry import (
    OWN_SETTINGS,
    PROVIDERS,
    DestinationFormat,
    PublishedSettings,
    StoredSettings,
    provider_of,
)
from receiver.kernel.net.headers import header_problem
from receiver.kernel.secrets.webhooks import Signing
from receiver.lifecycle.rules.task import TERMINAL_STATES, State


class DownstreamAddress(BaseModel):
    """Where a downstream is: its name, its destination (`format`) and that one's address."""

    # Dots only inside, one at a time: never `.` or `..`, which paths and subjects read.
    name: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    ]
    format: DestinationFormat = "webhook"
    url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _addressless(cls, data: Any) -> Any:
        """A downstream read by its app, never sent to: its `url` is its format's own."""
        if not isinstance(data, dict) or data.get("url") is not None:
            return data
        provider = PROVIDERS.get(str(data.get("format")))
        return {**data, "url": provider.stand_in_url} if provider and provider.addressless else data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        fmt = info.data.get("format")
        return value if value is None or fmt is None else provider_of(fmt).check_url(value)


class DownstreamSettings(
    PublishedSettings, DownstreamAddress, StoredSettings, Section, DownstreamExpressions
):
    """What a downstream is, wherever it is declared (the config file, or the API). Each
    destination's own settings come from its module (receiver/destinations/registry.py),
    in the order they have always been listed."""

    # Only the tasks that name one of these in `channels` when submitted; none: every task.
    channels: list[Annotated[str, Field(pattern=CHANNEL)]] = Field(default_factory=list)
    # Task states, `progress` for a running task's progress events (throttled by
    # `delivery.progress_interval_seconds`), and `downstream.disabled` for the relay's
    # notice that it gave up on one.
    events: list[State | Literal["progress", "downstream.disabled"]] = sorted(TERMINAL_STATES)  # type: ignore[arg-type]
    timeout: Annotated[float, Field(gt=0)] = 10.0
    # `ed25519`: signed `v1a` with a `whsk_` key, verified with its `whpk_` public key.
    signing: Signing = "hmac"
    # One downstream's share of the fan-out: a slow or dead one can hold no more than this.
    max_in_flight: Annotated[int, Field(gt=0)] = 8
    rate_per_second: Annotated[float, Field(gt=0)] | None = None
    # At most this many attempts a second by all replicas together (a budget in the store).
    max_per_second: Annotated[float, Field(gt=0)] | None = None
    # Circuit breaker: at least `breaker_min_attempts` attempts in the last
    # `breaker_window_seconds`, and `breaker_failure_rate` of them failed, pause it; a probe
    # goes after the cool-off.
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.8
    breaker_min_attempts: Annotated[int, Field(gt=0)] = 20
    breaker_window_seconds: Annotated[float, Field(gt=0)] = 60.0
    breaker_cool_off_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Failing without a break this long disables it (Svix's default: 5 days).
    disable_after_seconds: Annotated[float, Field(gt=0)] = 5 * 24 * 3600.0

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if problem := header_problem(value):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _its_destinations_settings(self) -> Self:
        """A destination's own settings only on a downstream of it, checked by it."""
        provider = provider_of(self.format)
        for key in type(self).model_fields:
            given = key in OWN_SETTINGS and getattr(self, key) is not None
            if given and key not in provider.settings:
                raise ValueError(f"{key} is not a setting of a {self.format} downstream")
        provider.check_settings(self)
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
