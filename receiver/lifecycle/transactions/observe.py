"""The step every transaction ends with: one report of a task kept as an event, and, when it
moves the task forward, its new state and one delivery per downstream that takes it. A
progress event's deliveries take the place of an older one's not yet sent (`told`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, new_id
from receiver.lifecycle.rows import events, mirrors
from receiver.lifecycle.rows.events import NewEvent
from receiver.lifecycle.rows.tasks import submits, tracking
from receiver.lifecycle.rows.tasks.tracking import Locked
from receiver.lifecycle.rules.records import Recorded, Task
from receiver.lifecycle.rules.routing import (
    LastSent,
    estimated_end,
    event_document,
    progress_due,
    sources_of,
    supersedes,
    waits_for_mirror,
)
from receiver.lifecycle.rules.task import (
    PENDING,
    TERMINAL_STATES,
    Observation,
    advances,
    output_of,
    shown_progress,
)
from receiver.outbox.rows import outbox
from receiver.outbox.rows.outbox import Handing
from receiver.outbox.rules.delivery import (
    DeliveryJob,
    Subscribers,
    Subscriptions,
    TaskRoute,
    coalesce,
    held_reasons,
    recipients,
    takes,
)
from receiver.outbox.rules.event_types import PROGRESS, PROGRESS_TYPE


@dataclass(frozen=True)
class Report:
    """One observation of a task, as it came; a repeat of its `dedupe_key` changes nothing."""

    source: str
    dedupe_key: str
    obs: Observation
    raw: str = ""
    verdict: str | None = None  # a callback's: pending, or judged at once


@dataclass(frozen=True)
class Audience:
    """Who hears of a change, and how: files copied first, progress at most how often."""

    subscribers: Subscribers
    mirror: bool = False
    progress_every: float = 10.0  # seconds between one task's progress events, at least
    handing: Handing | None = None  # the new deliveries this process sends at once


def lock(db: Db, task_id: str, obs: Observation) -> Locked | Recorded:
    """The task, locked for this transaction, or why the observation cannot be about it."""
    locked = tracking.lock_task(db, task_id)
    if locked is None:
        return Recorded("unknown_task")
    upstream = obs.upstream_task_id
    if upstream and (
        locked.task.upstream_task_id not in (None, upstream)
        or upstream in locked.replaced_upstream_ids
    ):
        # Another task's report, or a late one of an upstream task this one has replaced.
        return Recorded("task_mismatch", locked.task)
    return locked


def observed(db: Db, task_id: str, report: Report, audience: Audience, now: float) -> Recorded:
    """A report that may move the task, in a transaction with no other step (a cancel)."""
    locked = lock(db, task_id, report.obs)
    if isinstance(locked, Recorded):
        return locked
    return record(db, locked.task, report, audience, now)


async def observe(store: Store, task_id: str, report: Report, audience: Audience) -> Recorded:
    return await store.run(lambda db: observed(db, task_id, report, audience, time.time()))


def record(
    db: Db, task: Task, report: Report, audience: Audience, now: float, may_apply: bool = True
) -> Recorded:
    """Keep the report as an event; apply it when it moves the task forward. Reports that
    do not are history; an exact repeat (the same dedupe key) changes nothing."""
    obs = report.obs
    applied = may_apply and obs.state is not None and advances(task.state, obs.state)
    event_id = insert_event(db, task, report, applied, now)
    if event_id is None:
        return Recorded("duplicate", task)
    if not applied or obs.state is None:
        return Recorded("history", task, event_id, verdict=report.verdict)
    updated = advanced(task, obs, now)
    # The row as the writes leave it (it is locked, or SQLite's only writer holds it), so
    # the caller gets the new task without reading it back.
    tracking.write_state(db, task, updated)
    if updated.terminal_at is not None and task.next_submit_at is not None:
        submits.leave_queue(db, task.id)  # ended while it waited to be sent
    if supersedes(obs.state) and (task.progress_sent_at is not None or task.resubmits):
        # Its progress deliveries not yet sent end here: deliveries go in order per
        # downstream, and the terminal event must never wait behind them. A task has
        # some only once a progress event was told (a resubmit forgets when).
        outbox.supersede_progress(db, task.id, now)
    files = {
        "outputs": updated.outputs,
        "thumbnail": updated.thumbnail,
        "output_type": output_of(task.kind, updated.outputs),
    }
    sources = sources_of(files)
    hold = waits_for_mirror(audience.mirror, obs.state, [s["url"] for s in sources])
    hold = hold and mirrors.start_copy(db, event_id, task.id, sources, now)
    delivery_ids, handed = fan_out(db, task, event_id, obs.state, audience, now, hold)
    return Recorded("applied", updated, event_id, delivery_ids, report.verdict, handed=handed)


def insert_event(db: Db, task: Task, report: Report, applied: bool, now: float) -> str | None:
    """The event's id, or None when an event with this dedupe key is already stored."""
    event_id = new_id("evt")
    obs, verdict = report.obs, report.verdict
    event = NewEvent(
        id=event_id,
        task_id=task.id,
        source=report.source,
        dedupe_key=report.dedupe_key,
        state=obs.state,
        upstream_status=obs.upstream_status,
        applied=applied,
        at=now,
        raw=report.raw,
        document=event_document(task, event_id, obs, report.source, now),
        verdict=verdict,
        verdict_at=None if verdict in (None, PENDING) else now,
    )
    return event_id if events.insert_event(db, event) else None


def advanced(task: Task, obs: Observation, now: float) -> Task:
    """The task once `obs` is applied: files and credits kept when the report has none."""
    assert obs.state is not None
    terminal = obs.state in TERMINAL_STATES
    return replace(
        task,
        state=obs.state,
        upstream_status=obs.upstream_status,
        upstream_task_id=task.upstream_task_id
        if task.upstream_task_id is not None
        else obs.upstream_task_id,
        outputs=list(obs.outputs) or task.outputs,
        thumbnail=obs.thumbnail or task.thumbnail,
        error=obs.error,
        point=obs.point if obs.point is not None else task.point,
        refund=obs.refund if obs.refund is not None else task.refund,
        updated_at=now,
        terminal_at=now if terminal else None,
        next_poll_at=None if terminal else task.next_poll_at,
        progress=shown_progress(obs.state, task.progress),
    )


def takers(state: str, subscriptions: Subscriptions, route: TaskRoute) -> list[str]:
    """The downstreams that take the event (whether they are disabled is asked of these)."""
    return [name for name, sub in subscriptions.items() if takes(sub, state, route)]


def fan_out(
    db: Db,
    task: Task,
    event_id: str,
    state: str,
    audience: Audience,
    now: float,
    hold: bool = False,
) -> tuple[list[str], list[DeliveryJob]]:
    """One delivery per downstream subscribed to `state` (held for a disabled one): their
    ids, and the jobs of those leased to `audience.handing` as they were made. Of the
    downstreams, only the global ones and the task's app's are read."""
    subscriptions = audience.subscribers.of(db, task.route.owner)
    disabled = outbox.disabled_among(db, takers(state, subscriptions, task.route))
    wanted = recipients(state, subscriptions, disabled, hold, task.route)
    reasons = held_reasons(subscriptions)
    made, leased = outbox.insert_handing(
        db, task.id, event_id, wanted, now, reasons, audience.handing
    )
    return made, outbox.leased_jobs(db, leased)


def told(
    db: Db,
    task: Task,
    obs: Observation,
    progress: float | None,
    audience: Audience,
    now: float,
) -> list[str]:
    """The deliveries of the progress event this report makes, new or now carrying it."""
    every = audience.progress_every
    last = None
    if task.progress_sent is not None and task.progress_sent_at is not None:
        last = LastSent(task.progress_sent, task.progress_sent_at)
    if progress is None or not progress_due(task.state, progress, last, now, every):
        return []
    subscriptions = audience.subscribers.of(db, task.route.owner)
    disabled = outbox.disabled_among(db, takers(PROGRESS, subscriptions, task.route))
    wanted = recipients(PROGRESS, subscriptions, disabled, False, task.route)
    if not wanted:
        return []  # nobody listens: nothing written, and the next figure is told when one does
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
        document=document,
    )
    if not events.insert_event(db, event):
        return []
    plan = coalesce(wanted, outbox.waiting_progress(db, task.id), now)
    outbox.repoint(db, plan.replaced, event_id, now)
    reasons = held_reasons(subscriptions)
    inserted = outbox.insert_deliveries(db, task.id, event_id, list(plan.new), now, reasons)
    tracking.set_progress_sent(db, task.id, progress, now)
    return [*inserted, *plan.replaced]
