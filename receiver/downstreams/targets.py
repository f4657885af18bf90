"""Where a broker or AWS downstream's messages go, as the API shows it: apart from
models.py, which holds the rest of a downstream's answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DownstreamTargets(BaseModel):
    exchange: str | None = None
    routing_key: str | None = None
    subject: str | None = None
    topic: str | None = None
    stream: str | None = None
    maxlen: int | None = None
    region: str | None = Field(None, description="sqs, sns, eventbridge, s3: the AWS region.")
    endpoint_url: str | None = Field(
        None, description="sqs, sns, eventbridge, s3: a stand-in endpoint (LocalStack, MinIO)."
    )
    key: str | None = Field(None, description="s3: the object key template.")
