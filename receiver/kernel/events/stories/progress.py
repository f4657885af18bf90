"""A poll reports a running task's progress: when the throttle allows and the figure is
new, one progress event, whose deliveries take the place of those of an older one not yet
sent, in the poll's transaction.
"""

from __future__ import annotations

from receiver.kernel.events.rows import health as downstream_rows
from receiver.kernel.events.rows import observations, outbox
from receiver.kernel.events.rows.observations import NewEvent
from receiver.kernel.events.rules.document import event_document
from receiver.kernel.events.rules.observation import Observation
from receiver.kernel.events.rules.progress import (
    PROGRESS,
    PROGRESS_TYPE,
    LastSent,
    coalesce,
    estimated_end,
    progress_due,
)
from receiver.kernel.events.rules.routing import Subscriptions, held_reasons, recipients
from receiver.kernel.store import Task
from receiver.kernel.store.db import Db, Sql
from receiver.kernel.store.records import new_id

SET_PROGRESS_SENT = Sql("UPDATE tasks SET progress_sent = ?, progress_sent_at = ? WHERE id = ?")


def told(
    db: Db,
    task: Task,
    obs: Observation,
    progress: float | None,
    audience: tuple[Subscriptions, float],
    now: float,
) -> list[str]:
    """The deliveries of the progress event this report makes (new rows, and rows that
    now carry it), or none. `audience`: the subscriptions, and the throttle's seconds."""
    subscriptions, every = audience
    last = None
    if task.progress_sent is not None and task.progress_sent_at is not None:
        last = LastSent(task.progress_sent, task.progress_sent_at)
    if progress is None or not progress_due(task.state, progress, last, now, every):
        return []
    if not recipients(PROGRESS, subscriptions, set(), False, task.route):
        return []  # nobody listens: nothing read, and the next figure is told when one does
    disabled = downstream_rows.disabled_names(db) if subscriptions else set()
    wanted = recipients(PROGRESS, subscriptions, disabled, False, task.route)
    event_id = new_id("evt")
    document = {
        **event_document(task, event_id, obs, "poll", now),
        "type": PROGRESS_TYPE,
        "progress": progress,
        "estimated_end": estimated_end(task.started_at, now, progress),
    }
    event = NewEvent(
        id=event_id,
        task_id=task.id,
        source=PROGRESS,
        dedupe_key=f"progress:{task.resubmits}:{now!r}",
        state=task.state,
        upstream_status=obs.upstream_status,
        applied=False,
        at=now,
        raw="",
        document=document,
        verdict=None,
        verdict_at=None,
    )
    if not observations.insert_event(db, event):
        return []
    plan = coalesce(wanted, outbox.waiting_progress(db, task.id), now)
    outbox.repoint(db, plan.replaced, event_id, now)
    reasons = held_reasons(subscriptions)
    inserted = outbox.insert_deliveries(db, task.id, event_id, list(plan.new), now, reasons)
    db.execute(SET_PROGRESS_SENT, (progress, now, task.id))
    return [*inserted, *plan.replaced]
