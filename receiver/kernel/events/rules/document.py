"""The document downstreams receive for an event, fixed when the event is recorded.

Every delivery of one event, first attempt or replay a week later, carries this same
document: rendering for each downstream's format starts from it.
"""

from __future__ import annotations

from typing import Any, Protocol

from receiver.kernel.events.rules.kinds import output_of
from receiver.kernel.events.rules.observation import Observation
from receiver.kernel.events.rules.queue import failure_message


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
        # Every output of a kind is of one type (receiver/kernel/events/rules/kinds.py; a
        # passed-through
        # kind's is read from its outputs).
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
        # The caller's own data, as given on submit: every event of the task carries it.
        "metadata": task.metadata,
    }
