"""The settings only the AWS destinations take (`sqs`, `sns`, `eventbridge`, `s3`), and the
list of every downstream format. Kept apart from sections.py, which holds the rest of a
downstream's settings. Credentials are never settings: AWS's own chain finds them (the
standard variables, a profile, the container's role)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from receiver.config.aws_targets import AWS_FORMATS, check_aws_url, check_key

DownstreamFormat = Literal[
    "webhook",
    "slack",
    "discord",
    "teams",
    "telegram",
    "google_chat",
    "mattermost",
    "amqp",
    "nats",
    "mqtt",
    "redis",
    "sqs",
    "sns",
    "eventbridge",
    "s3",
]
# Shown by the API beside a downstream's other settings.
AWS_SETTINGS = ("region", "endpoint_url", "key")
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


class AwsSettings(BaseModel):
    """`region` and `endpoint_url` (LocalStack, moto, MinIO, another S3-compatible store)
    for any AWS format, `key` (the object key template) for `s3`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")] | None = Field(
        None, description="sqs, sns, eventbridge, s3: the AWS region."
    )
    endpoint_url: Annotated[str, Field(max_length=2048)] | None = Field(
        None, description="sqs, sns, eventbridge, s3: a stand-in endpoint (LocalStack, MinIO)."
    )
    key: Annotated[str, Field(min_length=1, max_length=512)] | None = Field(
        None, description="s3: the object key template."
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            _HTTP_URL.validate_python(value)
        except ValidationError:
            raise ValueError("must be an http(s) URL") from None
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return value if value is None else check_key(value)

    @model_validator(mode="after")
    def _aws_only(self) -> Self:
        fmt = getattr(self, "format", None)
        for name in AWS_SETTINGS:
            if getattr(self, name) is None:
                continue
            if fmt not in AWS_FORMATS or (name == "key" and fmt != "s3"):
                raise ValueError(f"{name} is not a setting of a {fmt} downstream")
        return self


def check_aws_downstream_url(fmt: str, url: str) -> str | None:
    """The URL checked as `fmt` takes it; None when `fmt` is no AWS format."""
    return check_aws_url(fmt, url) if fmt in AWS_FORMATS else None


def aws_fields(settings: Any) -> dict[str, Any]:
    """The AWS settings of a downstream, for `Downstream`."""
    return {name: getattr(settings, name) for name in AWS_SETTINGS}
