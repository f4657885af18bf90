"""What an event carries, pure: its document, the files a copy is made of, and progress
events. The document is fixed when the event is recorded: every delivery of it, first
attempt or replay a week later, carries the same one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from receiver.lifecycle.rules.polling import end_from_progress
from receiver.lifecycle.rules.task import TERMINAL_STATES, Observation, failure_message, output_of


def waits_for_mirror(mirroring: bool, state: str, files: list[str]) -> bool:
    """Whether an event's deliveries wait for a copy of its files."""
    return mirroring and state == "succeeded" and bool(files)


def sources_of(document: dict[str, Any]) -> list[dict[str, str]]:
    """The files of an event's document a copy is made of, each with its role."""
    role = document.get("output_type") or "video"  # documents before output_type: videos
    found = [{"role": role, "url": url} for url in document.get("outputs") or []]
    if document.get("thumbnail"):
        found.append({"role": "poster", "url": document["thumbnail"]})
    return found


class TaskFacts(Protocol):
    """What the document needs of the task the event is about."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def upstream_task_id(self) -> str | None: ...
    @property
    def outputs(self) -> list[str]: ...
    @property
    def thumbnail(self) -> str | None: ...
    @property
    def point(self) -> float | None: ...
    @property
    def refund(self) -> float | None: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...


def event_document(
    task: TaskFacts, event_id: str, obs: Observation, source: str, now: float
) -> dict[str, Any]:
    """The public event: what this observation says, with the task's earlier facts where it
    says nothing (an answer without outputs keeps the outputs already known)."""
    failed = obs.state == "failed"
    return {
        "event_id": event_id,
        "task_id": task.id,
        "upstream_task_id": task.upstream_task_id or obs.upstream_task_id,
        "kind": task.kind,
        "state": obs.state,
        "upstream_status": obs.upstream_status,
        "outputs": list(obs.outputs) or task.outputs,
        "output_type": output_of(task.kind, list(obs.outputs) or task.outputs),
        "thumbnail": obs.thumbnail or task.thumbnail,
        "error": obs.error,
        "point": obs.point if obs.point is not None else task.point,
        "refund": obs.refund if obs.refund is not None else task.refund,
        "upstream_created_at": obs.upstream_created_at,
        "upstream_updated_at": obs.upstream_updated_at,
        "source": source,
        "occurred_at": now,
        # Runway advises against showing its raw failure text (`error`) to end users: the
        # code says what failed, the message is safe to show.
        "failure_code": obs.failure_code if failed else None,
        "failure_message": failure_message(obs.failure_code) if failed else None,
        "metadata": task.metadata,
    }


@dataclass(frozen=True)
class LastSent:
    """The task's latest progress event: its figure and when it was made."""

    progress: float
    at: float


def progress_due(
    state: str, progress: float | None, last: LastSent | None, now: float, every: float
) -> bool:
    """Whether a report of `progress` makes a progress event: only while it runs, only above
    the last one told (subscribers never see it go back), at most one per `every` seconds."""
    if state != "running" or progress is None or progress <= 0:
        return False
    if last is None:
        return True
    return progress > last.progress and now - last.at >= every


def estimated_end(started_at: float | None, now: float, progress: float) -> str | None:
    """The end the progress since the task was first seen running points to, in ISO 8601."""
    end = None if started_at is None else end_from_progress(started_at, now, progress)
    if end is None:
        return None
    return datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def supersedes(state: str) -> bool:
    """Whether an event in `state` ends the progress deliveries still waiting: a terminal
    event is never held behind them, and a figure told after the end would mislead."""
    return state in TERMINAL_STATES
