"""The settings only some destinations take, read without loading any destination: the
registry composes them into a downstream's settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from receiver.destinations.options import CLI_ONLY
from receiver.destinations.publishing import placeholders

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl, config=ConfigDict(defer_build=True))
# What an S3 object's key template may name.
KEY_PLACEHOLDERS = frozenset({"date", "task_id", "event_id", "state", "kind"})


class Own(BaseModel):
    """Never validated alone, only as a base of a downstream's settings, so its schema is
    not built (a relay's start would pay for each)."""

    model_config = ConfigDict(defer_build=True)


class AmqpSettings(Own):
    exchange: str | None = None  # unset: the default exchange
    routing_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class NatsSettings(Own):
    subject: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class MqttSettings(Own):
    topic: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class RedisSettings(Own):
    stream: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    maxlen: Annotated[int, Field(gt=0)] | None = None  # XADD MAXLEN ~


class KafkaSettings(Own):
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="kafka: how the URL's user and password sign in (unset: PLAIN)."
    )
    idempotent: Annotated[bool | None, CLI_ONLY] = Field(
        None, description="kafka: the idempotent producer (unset: on); off for a broker without it."
    )


class AwsSettings(Own):
    """`region` and `endpoint_url` (LocalStack, moto, MinIO, another S3-compatible store)."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")] | None = Field(
        None, description="sqs, sns, eventbridge, kinesis, s3: the AWS region."
    )
    endpoint_url: Annotated[str, Field(max_length=2048)] | None = Field(
        None,
        description="sqs, sns, eventbridge, kinesis, s3: a stand-in endpoint (LocalStack, MinIO).",
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            http_url(value)
        return value


class S3Settings(Own):
    key: Annotated[str, Field(min_length=1, max_length=512)] | None = Field(
        None, description="s3: the object key template."
    )

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return value if value is None else check_key(value)


class S3AwsSettings(S3Settings, AwsSettings):
    """What an s3 downstream takes: its key template and the AWS settings."""


def http_url(url: str) -> str:
    """`url` as an http(s) URL reads; ValueError when it is not one."""
    try:
        return str(_HTTP_URL.validate_python(url))
    except ValidationError:
        raise ValueError("must be an http(s) URL") from None


def check_s3_path(where: str, path: str) -> None:
    """A key or prefix S3 takes as written: `..`, `//` or a leading `/` would be sent as is
    (`PUT /bucket/p/../../other/...`), and read by a proxy or a stand-in as another path."""
    if ".." in path or "//" in path or path.startswith("/"):
        raise ValueError(f"{where}: must not hold `..` or `//`, nor start with /")


def check_key(template: str) -> str:
    """A key template that names the event (each event its own object, and a replay the
    same one) and only known placeholders."""
    try:
        names = placeholders(template)
    except ValueError as exc:
        raise ValueError(f"key: {exc}") from None
    if unknown := names - KEY_PLACEHOLDERS:
        known = ", ".join(f"{{{n}}}" for n in sorted(KEY_PLACEHOLDERS))
        raise ValueError(f"key: unknown placeholder {{{sorted(unknown)[0]}}} (known: {known})")
    if "event_id" not in names:
        raise ValueError("key: must hold {event_id}, so that each event is its own object")
    check_s3_path("key", template)
    return template
