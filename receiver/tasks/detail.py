"""The answer of `GET /v1/tasks/{task_id}`: a task with its history."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from receiver.kernel.http.models import (
    AttemptSummary,
    DeliverySummary,
    EventSummary,
    Media,
    SubmitAttemptSummary,
    TaskSummary,
)


class TaskDetail(TaskSummary):
    request: dict[str, Any] = Field(
        description="The fields sent to CometAPI; each `data:` URI as"
        ' `{"data_uri": {"type", "bytes", "sha256"}}`: kept apart, never answered.'
    )
    media: Media | None = Field(
        description="The copies of its renders; null: none are made (media off, or no files)."
    )
    failure_code: str | None = Field(
        description="Once it failed: CometAPI's failure code (Runway's `failureCode`, e.g."
        " `SAFETY.INPUT.TEXT`), as its webhook's `data.failure_code`; null otherwise or when"
        " CometAPI gave none."
    )
    failure_message: str | None = Field(
        description="Once it failed: a short message safe to show an end user, as its"
        " webhook's `data.failure_message` (`error` is CometAPI's own text, which Runway"
        " advises not to show)."
    )
    events: list[EventSummary] = Field(description="Oldest first.")
    deliveries: list[DeliverySummary]
    attempts: list[AttemptSummary] = Field(description="Every delivery attempt, oldest first.")
    submits: list[SubmitAttemptSummary] = Field(description="Every send to CometAPI, oldest first.")
