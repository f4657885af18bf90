"""The polls of a task, one transaction each: which due polls go now within the replicas'
one budget (`claim`, `hold`), and what CometAPI's answer records (`answered`): the only
report that changes a task's state unless callbacks are trusted, with the callbacks' claims
it settles and when to ask next. A callback is kept as such a claim (`arrive`), and the
poll it brings forward may be leased in the same transaction to the process that took it."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from receiver.kernel.store import Store
from receiver.kernel.store.db import Db, Sql
from receiver.lifecycle.rows import events
from receiver.lifecycle.rows.tasks import submits, tracking
from receiver.lifecycle.rows.tasks.tracking import Locked, PollEnd
from receiver.lifecycle.rules.polling import (
    HISTORY_SIZE,
    Bucket,
    CallbackPolls,
    PollLease,
    PollRule,
    PollSchedule,
    Seen,
    Window,
    callback_poll,
    end_from_progress,
    give_back,
    held,
    take,
    timing_key,
    trims_history,
    usual_window,
)
from receiver.lifecycle.rules.polling import next_poll as timed_poll
from receiver.lifecycle.rules.records import (
    PollJob,
    PollResult,
    Recorded,
    Settled,
    Task,
)
from receiver.lifecycle.rules.task import (
    PENDING,
    TERMINAL_STATES,
    ClaimPolicy,
    Observation,
    claim_of,
    judge_on_ended,
    next_poll,
    over_history_bound,
    poll_due,
    progress_fraction,
    resubmit,
    settle,
)
from receiver.lifecycle.transactions.observe import (
    Audience,
    Report,
    lock,
    observe,
    observed,
    record,
    told,
)
from receiver.outbox.rows import outbox
from receiver.outbox.rows.outbox import Handing
from receiver.outbox.rules.delivery import Subscribers

SET_POLL_BUDGET = Sql("UPDATE poll_budget SET tokens = ?, refilled_at = ? WHERE id = 1")


def claim_due(db: Db, lease: PollLease, limit: int, now: float) -> list[PollJob]:
    """Lease up to `limit` due polls within the budget, in one transaction."""
    before = Bucket(*tracking.poll_budget(db))
    granted, after = take(before, now, lease.max_per_second, limit)
    jobs = tracking.claim_polls(db, lease.owner, now, lease.seconds, lease.ceiling, granted)
    left = give_back(after, granted - len(jobs), lease.max_per_second)
    if left != before:
        db.execute(SET_POLL_BUDGET, (left.tokens, left.at))
    return jobs


async def claim(store: Store, lease: PollLease, limit: int) -> list[PollJob]:
    return await store.run(lambda db: claim_due(db, lease, limit, time.time()), durable=False)


async def hold(store: Store, wait: float) -> None:
    """CometAPI's 429 on a poll: every replica's polls wait `wait` seconds."""

    def empty(db: Db) -> None:
        bucket = Bucket(*tracking.poll_budget(db))
        after = held(bucket, time.time(), wait)
        db.execute(SET_POLL_BUDGET, (after.tokens, after.at))

    await store.run(empty, durable=False)


@dataclass(frozen=True)
class Answer:
    """What one poll of a task brought: CometAPI's answer (None: none, or no such task),
    its body, and when to poll next: a time, the rule that chooses it, or None (never)."""

    task_id: str
    owner: str | None  # the poll's lease holder (None: asked at once, by a callback)
    observation: Observation | None
    raw: str
    # PollSchedule: when its plan says, after this answer (read with the task's row)
    next_poll_at: float | PollRule | CallbackPolls | PollSchedule | None


@dataclass(frozen=True)
class PollPolicy:
    """The settings a poll's outcome is recorded under."""

    subscribers: Subscribers
    window: float  # how long a claim may wait for CometAPI to agree (corroborate_seconds)
    mirror: bool = False  # copy a success's files before its deliveries go
    resubmits_allowed: int = 0
    progress_every: float = 10.0  # at most one progress event per task this often
    delivery_lease_seconds: float = 60.0  # a delivery handed to this process's fan-out


async def answered(
    store: Store, answer: Answer, policy: PollPolicy, handing: Handing | None = None
) -> PollResult:
    """The new event's deliveries are leased to `handing` as they are made, to be sent at
    once. Durable before it returns, but its sync may be shared with the next callback's."""
    return await store.run(
        lambda db: finish(db, answer, policy, handing, time.time()), shared_sync=True
    )


def finish(
    db: Db,
    answer: Answer,
    policy: PollPolicy,
    handing: Handing | None,
    now: float,
    locked: Locked | None = None,
) -> PollResult:
    """`locked`: the task as this transaction left it, locked already (a callback's claim
    kept in it); else it is read and locked here."""
    locked = tracking.lock_task(db, answer.task_id) if locked is None else locked
    if locked is None:
        return PollResult(None, [])
    task, obs = locked.task, answer.observation
    claims = tracking.pending_claims(db, task.id) if task.claim_since is not None else []
    planned = answer.next_poll_at
    if isinstance(planned, PollSchedule):
        planned = planned.after(task.kind, task.created_at, locked.poll_attempts, now, False)
    settlement = settle(claims, obs, now, policy.window, planned is not None)
    for claim, verdict in settlement.verdicts:
        events.set_verdict(db, claim.event_id, verdict, now)
    settled = [Settled(claim, verdict) for claim, verdict in settlement.verdicts]
    recorded = None
    audience = Audience(policy.subscribers, policy.mirror, policy.progress_every, handing)
    if obs is not None:
        again = (
            obs.state == "failed"
            and task.state not in TERMINAL_STATES
            and resubmit(obs.failure_code, task.resubmits, policy.resubmits_allowed)
        )
        report = Report("poll", _dedupe_key(task, obs), obs, answer.raw)
        recorded = record(db, task, report, audience, now, may_apply=not again)
        if again and recorded.outcome != "duplicate":
            _requeue(db, locked, now)
            tracking.finish_poll(db, PollEnd(task.id, answer.owner, None, now, None))
            return PollResult(recorded, settled, resubmitted=True)
        if recorded.outcome != "applied":
            _keep_cost(db, task, obs)
    state = recorded.task.state if recorded and recorded.task else task.state
    ended = state in TERMINAL_STATES
    progress = progress_fraction(obs.progress) if obs is not None else None
    if progress is not None and not ended and progress != task.progress:
        tracking.set_progress(db, task.id, progress, now)
    progressed: list[str] = []
    if obs is not None and not ended:
        current = recorded.task if recorded is not None and recorded.task else task
        progressed = told(db, current, obs, progress, audience, now)
    if recorded is not None and recorded.outcome == "applied" and ended:
        _join_history(db, task, state, now)
    next_at = _planned(db, task, planned, state, progress, now)
    waiting = settlement.waiting_since
    next_at = next_poll(now, next_at, waiting, ended)
    tracking.finish_poll(db, PollEnd(task.id, answer.owner, next_at, now, waiting))
    handed = list(recorded.handed) if recorded is not None else []
    if handing is not None and progressed:  # a progress event's rows, new or carrying it now
        handed += outbox.lease_new_deliveries(db, progressed, handing, now)
    return PollResult(recorded, settled, handed=handed)


def _planned(
    db: Db,
    task: Task,
    planned: float | PollRule | CallbackPolls | None,
    state: str,
    progress: float | None,
    now: float,
) -> float | None:
    """When the task is asked next by the poll's plan, before a claim's settling has its say."""
    ended = state in TERMINAL_STATES
    if isinstance(planned, CallbackPolls):
        if ended:
            return now + planned.lost.ceiling
        # Its kind's history is read once it runs.
        history = usual(db, task) if state != "queued" and now < planned.grace_at else None
        return callback_poll(planned, state, task.created_at, history, now)
    if isinstance(planned, PollRule):
        # An ended task is asked again only to settle a claim (next_poll decides when).
        if ended:
            return now + planned.ceiling
        return scheduled(db, task, state, progress, now, planned)
    return planned


def _dedupe_key(task: Task, obs: Observation) -> str:
    if task.resubmits:  # a new upstream task: its answers are new too
        return f"poll:{task.resubmits}:{obs.state}:{obs.upstream_status}"
    return f"poll:{obs.state}:{obs.upstream_status}"


def _keep_cost(db: Db, task: Task, obs: Observation) -> None:
    """CometAPI's credits for a task its answer does not move (under `trust_body` a callback
    may have ended it, and a callback's own figures are never taken)."""
    point = obs.point if obs.point is not None else task.point
    refund = obs.refund if obs.refund is not None else task.refund
    if (point, refund) != (task.point, task.refund):
        tracking.set_cost(db, task.id, point, refund)


def _requeue(db: Db, locked: Locked, now: float) -> None:
    """Back to the submit queue, to be sent as a new upstream task; the failed one's id is
    set aside, so that its late reports cannot bind the task again."""
    replaced = [*locked.replaced_upstream_ids, locked.task.upstream_task_id]
    submits.requeue(db, locked.task.id, [r for r in replaced if r is not None], now)


async def give_up(store: Store, task_id: str, age: float, subscribers: Subscribers) -> Recorded:
    """A task that never ends would be polled forever: declared failed, once."""
    error = f"no terminal state from CometAPI after {age / 3600:.1f} h"
    report = Report("poll", "poll:gave_up", Observation(state="failed", error=error))
    return await observe(store, task_id, report, Audience(subscribers))


def usual(db: Db, task: Task) -> Window | None:
    """Where tasks like this one usually end, from the store's history of them."""
    key = timing_key(task.kind, task.request)
    return usual_window(tracking.recent_durations(db, key, HISTORY_SIZE))


def scheduled(
    db: Db, task: Task, state: str, progress: float | None, now: float, rule: PollRule
) -> float:
    """The next poll of an unfinished task; keeps when it started and the end aimed at."""
    running = state == "running"
    started_at = task.started_at if task.started_at is not None or not running else now
    says_end = progress is not None and end_from_progress(started_at or now, now, progress)
    # The history is read only when the progress says nothing of the end.
    history = usual(db, task) if running and not says_end else None
    chosen = timed_poll(Seen(now, task.created_at, running, started_at, progress, history), rule)
    if (started_at, chosen.expected_end) != (task.started_at, task.expected_end_at):
        tracking.set_poll_timing(db, task.id, started_at, chosen.expected_end)
    return chosen.at


def _join_history(db: Db, task: Task, state: str, now: float) -> None:
    """A task that succeeded joins the history of its kind (failures end anywhere)."""
    if state == "succeeded":
        key = timing_key(task.kind, task.request)
        tracking.keep_duration(db, key, now - task.created_at, now)
        if trims_history(task.id):
            tracking.trim_durations(db, key, HISTORY_SIZE)


async def orphaned(store: Store, started_before: float, limit: int = 100) -> list[str]:
    """Tasks whose send has been in flight since before `started_before`: cut off."""
    return await store.run(lambda db: submits.orphaned(db, started_before, limit))


async def fail_orphan(store: Store, task_id: str, subscribers: Subscribers) -> Recorded:
    """A send cut off and never bound by a callback: failed, for whether CometAPI took it
    cannot be known, and sending it again could run it twice."""
    error = "submission interrupted: the relay stopped before CometAPI answered"
    report = Report("submit", "submit:orphaned", Observation(state="failed", error=error))

    def write(db: Db) -> Recorded:
        submits.abandon(db, task_id)
        return observed(db, task_id, report, Audience(subscribers), time.time())

    return await store.run(write)


async def arrive(
    store: Store,
    report: Report,
    task_id: str,
    subscribers: Subscribers,
    policy: ClaimPolicy,
    take_poll: PollLease | None = None,
) -> Recorded:
    """Keep the callback `report` on `task_id` in one transaction. With `take_poll`, a poll
    due at once is leased here and returned, to run without a claim transaction of its own."""
    audience = Audience(subscribers)
    return await store.run(
        lambda db: arrived(db, task_id, report, audience, policy, take_poll, time.time())
    )


async def arrive_answered(
    store: Store,
    report: Report,
    answer: Answer,
    claims: ClaimPolicy,
    policy: PollPolicy,
    handing: Handing | None,
) -> tuple[Recorded, PollResult]:
    """The callback `report` and CometAPI's `answer`, asked at once, in one transaction: the
    claim kept and settled by the answer (unused when the claim waits for none). Durable
    before it returns: the 200 waits for it, so its sync is not one shared later."""

    def write(db: Db) -> tuple[Recorded, PollResult]:
        now = time.time()
        audience = Audience(policy.subscribers)
        claimed_report = as_claim(report)
        locked = lock(db, answer.task_id, claimed_report.obs)
        if isinstance(locked, Recorded):
            return locked, PollResult(None, [])
        claim = keep_claim(db, locked, claimed_report, audience, claims, None, now)
        if claim.verdict != PENDING and claim.outcome != "over_limit":
            return claim, PollResult(None, [])
        return claim, finish(
            db, answer, policy, handing, now, claimed(locked, claimed_report, claim, claims, now)
        )

    return await store.run(write)


def claimed(
    locked: Locked, report: Report, claim: Recorded, policy: ClaimPolicy, now: float
) -> Locked | None:
    """The task as `keep_claim` left a pending claim's row (tracking.py's BRING_POLL_FORWARD
    done over the locked row), without reading it again; None when the claim did more."""
    task = locked.task
    leaves_queue = bool(task.upstream_task_id is None and task.next_submit_at)
    if claim.outcome != "history" or claim.verdict != PENDING or leaves_queue:
        return None
    due = poll_due(now, locked.last_polled_at, policy)
    bound = report.obs.upstream_task_id if task.upstream_task_id is None else task.upstream_task_id
    sooner = task.next_poll_at is None or task.next_poll_at > due
    return replace(
        locked,
        task=replace(
            task,
            claim_since=now if task.claim_since is None else task.claim_since,
            upstream_task_id=bound,
            next_poll_at=due if sooner else task.next_poll_at,
        ),
        callback_count=locked.callback_count + 1,
        callback_bytes=locked.callback_bytes + len(report.raw.encode()),
    )


def arrived(
    db: Db,
    task_id: str,
    report: Report,
    audience: Audience,
    policy: ClaimPolicy,
    take_poll: PollLease | None,
    now: float,
) -> Recorded:
    claim = as_claim(report)
    locked = lock(db, task_id, claim.obs)
    if isinstance(locked, Recorded):
        return locked
    return keep_claim(db, locked, claim, audience, policy, take_poll, now)


def as_claim(report: Report) -> Report:
    """A callback's report as a claim: its credits are never taken (`claim_of`)."""
    return replace(report, obs=claim_of(report.obs))


def keep_claim(
    db: Db,
    locked: Locked,
    report: Report,
    audience: Audience,
    policy: ClaimPolicy,
    take_poll: PollLease | None,
    now: float,
) -> Recorded:
    """Keep the callback `report`, made a claim (`as_claim`), on the task `locked` here."""
    obs = report.obs
    task = locked.task
    size = len(report.raw.encode())
    if over_history_bound(locked.callback_count, locked.callback_bytes, size, policy):
        if task.state not in TERMINAL_STATES:
            _bring_poll_forward(db, locked, obs, policy, claim=False, now=now)
        return Recorded("over_limit", task)
    verdict: str | None = PENDING
    if task.state in TERMINAL_STATES:
        verdict = judge_on_ended(task.state, task.outputs, obs, now)
    claim = replace(report, verdict=verdict)
    recorded = record(db, task, claim, audience, now, may_apply=policy.trust_body)
    if recorded.outcome == "duplicate":
        return recorded
    if verdict != PENDING:
        tracking.count_callback(db, task.id, size)
        return recorded
    _bring_poll_forward(db, locked, obs, policy, claim=True, now=now, kept=size)
    if obs.upstream_task_id and task.upstream_task_id is None and task.next_submit_at:
        # CometAPI has it (a send that timed out got through): it is not sent again.
        submits.leave_queue(db, task.id)
    if take_poll is not None:
        recorded = replace(recorded, poll=claim_one(db, task.id, take_poll, now))
    return recorded


def _bring_poll_forward(
    db: Db,
    locked: Locked,
    obs: Observation,
    policy: ClaimPolicy,
    claim: bool,
    now: float,
    kept: int | None = None,
) -> None:
    due = poll_due(now, locked.last_polled_at, policy)
    tracking.bring_poll_forward(db, locked.task.id, obs.upstream_task_id, due, now, claim, kept)


def claim_one(db: Db, task_id: str, lease: PollLease, now: float) -> PollJob | None:
    """A callback's own poll, leased in its transaction; under a budget it is left to the
    next claim, since the budget's lock would queue every callback behind it."""
    if lease.max_per_second is not None:
        return None
    return tracking.claim_poll(db, task_id, lease.owner, now, lease.seconds)
