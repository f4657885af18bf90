"""The answer of `GET /v1/tasks/{task_id}` and `receiver tasks show --json`: a task with its
history, and what of it a caller may see."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from pydantic import Field

from receiver.kernel.http.models import as_answer
from receiver.keys.rules import Caller
from receiver.outbox.rules.delivery import TASK_WEBHOOK, Attempt, Delivery, owner_of, shown_name
from receiver.tasks.reads import TaskHistory
from receiver.tasks.rules.answers import (
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


def detail_answer(detail: TaskHistory, caller: Caller | None = None) -> dict[str, Any]:
    """The task with its history as answered: of its deliveries and attempts, those `caller`
    may see (None: the operator's own command line, every one)."""
    task = detail.task
    return as_answer(
        TaskDetail,
        {
            **{name: getattr(task, name) for name in TaskSummary.model_fields},
            "request": task.request,
            "media": detail.media(),
            **detail.failure(),
            "events": detail.events,
            "deliveries": own(caller, detail.deliveries) if caller else detail.deliveries,
            "attempts": own(caller, detail.attempts) if caller else detail.attempts,
            "submits": detail.sends,
        },
    )


Sent = TypeVar("Sent", Delivery, Attempt)


def own(caller: Caller, sent: list[Sent]) -> list[Sent]:
    """Of a task's deliveries or attempts, those the caller may see: the admin every one; an
    app those to its own downstreams (by the names it gave them) and to the task's webhook,
    none to the operator's global downstreams."""
    if caller.sees_all:
        return sent
    return [
        replace(one, downstream=shown_name(one.downstream))
        for one in sent
        if one.downstream == TASK_WEBHOOK or owner_of(one.downstream) == caller.app_id
    ]
