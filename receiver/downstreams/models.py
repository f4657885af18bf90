"""The admin API's answers about downstreams (receiver/app/api/models.py holds the rest)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from receiver.app.api.answer import Answer, BreakerState
from receiver.downstreams.targets import DownstreamTargets


class DownstreamHealth(Answer):
    name: str
    disabled: bool
    disabled_at: float | None
    disabled_reason: str | None
    failing_since: float | None = Field(description="Every attempt since then has failed.")
    breaker: BreakerState = Field(description="As this replica last reported it.")
    breaker_changed_at: float | None
    deliveries: dict[str, int] = Field(description="How many deliveries are in each state.")


class DownstreamDetail(DownstreamHealth, DownstreamTargets):
    """What a downstream is and how it fares; never its secret."""

    source: Literal["config", "api"] = Field(
        description="`config`: the operator's file (read-only here); `api`: made through it."
    )
    app: str | None = Field(
        None,
        description="The app it belongs to, whose tasks alone it takes (unset: global, every"
        " task's); shown to the admin, whose `name` for it is `<app id>.<name>`.",
    )
    url: str = Field(description="A chat URL (a credential) shows only its origin.")
    format: str
    events: list[str]
    channels: list[str]
    signed: bool = Field(description="Its deliveries carry Standard Webhooks signatures.")
    timeout: float
    max_in_flight: int
    rate_per_second: float | None = None
    breaker_failure_rate: float
    breaker_min_attempts: int
    breaker_window_seconds: float
    breaker_cool_off_seconds: float
    disable_after_seconds: float
    filter: str | None = Field(None, description="CEL: the events it takes.")
    transform: str | None = Field(None, description="CEL: the body it is sent.")
    headers: dict[str, str] = Field(
        {}, description="The headers sent with each delivery, their values masked (`***`)."
    )
    created_at: float | None = None
    changed_at: float | None = None
    previous_secret_until: float | None = Field(
        None, description="While set, deliveries carry the old secret's signature too."
    )
    unusable: str | None = Field(
        None,
        description="Made through the API, its secret or URL was sealed under a key this relay"
        " no longer has: why. Its deliveries are still made, held, until the key is back"
        " (`callbacks.previous_secret_envs`) or its secret is rotated (and its URL given"
        " again, if that is what does not open).",
    )


class DownstreamCreated(DownstreamDetail):
    secret: str = Field(description="Its signing secret (`whsec_`): shown this once only.")


class SecretRotated(Answer):
    downstream: str
    secret: str = Field(description="The new signing secret: shown this once only.")
    previous_secret_until: float = Field(
        description="Until then every delivery carries both signatures, space-separated."
    )


class Removed(Answer):
    downstream: str
    removed: Literal[True]
    deliveries_ended: int = Field(description="Deliveries that waited, now dead letters.")


class DownstreamList(Answer):
    downstreams: list[DownstreamDetail]
