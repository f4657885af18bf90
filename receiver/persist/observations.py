"""What is learnt of a task, recorded: CometAPI's answer to the submit, reports (callbacks,
polls) and the verdicts on callbacks' claims, each with the deliveries it causes.

The decisions are the pure rules of receiver/domain/claims.py and receiver/domain/routing.py;
these functions run the one transaction around them.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from receiver.domain.claims import (
    ClaimPolicy,
    judge_on_ended,
    next_poll,
    over_history_bound,
    poll_due,
    settle,
)
from receiver.domain.corroborate import PENDING, Claim, claim_of
from receiver.domain.document import event_document
from receiver.domain.observation import Observation, progress_fraction
from receiver.domain.queue import resubmit
from receiver.domain.routing import Subscriptions, waits_for_copy
from receiver.domain.states import TERMINAL_STATES, advances
from receiver.persist import mirrors, outbox
from receiver.persist.db import Db, Row
from receiver.persist.records import DeliveryJob, PollResult, Recorded, Settled, Task, new_id
from receiver.persist.tasks import get_task


def accept_submission(
    db: Db,
    task_id: str,
    upstream_task_id: str,
    raw: str,
    next_poll_at: float,
    subscriptions: Subscriptions,
    now: float,
    dedupe_key: str = "submit",
) -> Recorded:
    """CometAPI took the task: bind its id, schedule the first poll, announce `queued`
    (a task sent again after a retryable failure announces nothing new)."""
    db.execute(db.sql.BIND_SUBMISSION, (upstream_task_id, next_poll_at, now, task_id))
    task = get_task(db, task_id)
    if task is None:
        return Recorded("unknown_task")
    obs = Observation(state="queued", upstream_task_id=upstream_task_id)
    event_id = _insert_event(db, task, "submit", dedupe_key, obs, raw, task.state == "queued", now)
    if event_id is None or task.state != "queued":
        return Recorded("history", task, event_id)
    return Recorded(
        "applied", task, event_id, outbox.fan_out(db, task, event_id, "queued", subscriptions, now)
    )


def _insert_event(
    db: Db,
    task: Task,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    applied: bool,
    now: float,
    verdict: str | None = None,
) -> str | None:
    """The event's id, or None when an event with this dedupe key is already stored."""
    event_id = new_id("evt")
    payload = event_document(task, event_id, obs, source, now)
    inserted = db.execute(
        db.sql.INSERT_EVENT,
        (
            event_id,
            task.id,
            source,
            dedupe_key,
            obs.state,
            obs.upstream_status,
            int(applied),
            now,
            raw,
            orjson.dumps(payload).decode(),
            verdict,
            None if verdict in (None, PENDING) else now,
        ),
    )
    return event_id if inserted else None


def _locked_task(db: Db, task_id: str, obs: Observation) -> tuple[Row, Task] | Recorded:
    """The task, locked for this transaction, or why the observation cannot be about it."""
    row = db.one(db.sql.LOCKED_TASK, (task_id,))
    if row is None:
        return Recorded("unknown_task")
    task = Task.from_row(row)
    if obs.upstream_task_id and (
        task.upstream_task_id not in (None, obs.upstream_task_id)
        or obs.upstream_task_id in orjson.loads(row["replaced_upstream_ids"])
    ):
        # Another task's report, or a late one of an upstream task this one has replaced.
        return Recorded("task_mismatch", task)
    return row, task


def record(
    db: Db,
    task_id: str,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    subscriptions: Subscriptions,
    now: float,
) -> Recorded:
    """Record one observation of a task and, when it moves the task forward, its deliveries.

    One transaction: the event row, the task's new state and one outbox row per subscribed
    downstream commit together or not at all. Reports that do not advance the state are
    kept as history; exact repeats (same dedupe key) change nothing.
    """
    locked = _locked_task(db, task_id, obs)
    if isinstance(locked, Recorded):
        return locked
    _, task = locked
    return _record(db, task, source, dedupe_key, obs, raw, subscriptions, now, may_apply=True)


def _record(
    db: Db,
    task: Task,
    source: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    subscriptions: Subscriptions,
    now: float,
    may_apply: bool,
    verdict: str | None = None,
    mirror: bool = False,
) -> Recorded:
    applied = may_apply and obs.state is not None and advances(task.state, obs.state)
    event_id = _insert_event(db, task, source, dedupe_key, obs, raw, applied, now, verdict)
    if event_id is None:
        return Recorded("duplicate", task)
    if not applied or obs.state is None:
        return Recorded("history", task, event_id, verdict=verdict)
    terminal = obs.state in TERMINAL_STATES
    # The row as the UPDATEs leave it (it is locked, or SQLite's only writer holds it), so
    # the caller gets the new task without reading it back.
    updated = replace(
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
    )
    # SQLite rewrites an index whenever the SET names one of its columns, changed or not
    # (upstream_task_id and next_poll_at are indexed): the common path names none of the
    # columns that seldom change, and each of those has its own UPDATE when it does.
    # A final state also ends the polls; the poll lease stays, for its holder's finish_poll
    # must still apply, or the task, still due, would be polled again at once by any replica.
    db.execute(
        db.sql.END_TASK if terminal else db.sql.ADVANCE_TASK,
        (
            obs.state,
            obs.upstream_status,
            orjson.dumps(updated.outputs).decode(),
            updated.thumbnail,
            obs.error,
            now,
            updated.terminal_at,
            task.id,
        ),
    )
    if (updated.point, updated.refund) != (task.point, task.refund):
        db.execute(db.sql.SET_TASK_COST, (updated.point, updated.refund, task.id))
    if updated.upstream_task_id != task.upstream_task_id:
        db.execute(db.sql.BIND_UPSTREAM, (updated.upstream_task_id, task.id))
    if terminal and task.next_submit_at is not None:
        db.execute(db.sql.LEAVE_QUEUE, (task.id,))  # ended while it waited to be sent
    files = {"outputs": updated.outputs, "thumbnail": updated.thumbnail}
    copy = waits_for_copy(mirror, obs.state, [s["url"] for s in mirrors.sources_of(files)])
    hold = copy and mirrors.start(db, event_id, task.id, files, now)
    delivery_ids = outbox.fan_out(db, task, event_id, obs.state, subscriptions, now, hold)
    return Recorded("applied", updated, event_id, delivery_ids, verdict)


def record_callback(
    db: Db,
    task_id: str,
    dedupe_key: str,
    obs: Observation,
    raw: str,
    subscriptions: Subscriptions,
    now: float,
    policy: ClaimPolicy,
    take_poll: tuple[str, float] | None = None,
) -> Recorded:
    """Keep a callback as a claim and have CometAPI asked about its task soon.

    The claim changes the task only under `trust_body`. On a finished task it is judged at
    once against what CometAPI already said; otherwise it waits, `pending`, for the poll it
    brings forward (never sooner than `min_poll_gap` after the last poll, so a flood of
    callbacks cannot become a flood of calls to CometAPI). Past the task's history bound,
    nothing is stored: the callback only brings the poll forward (`over_limit`).
    With `take_poll` (owner, lease seconds), a poll due at once is leased here to that
    owner and returned, so that it runs without a claim transaction of its own.
    """
    obs = claim_of(obs)  # its credits are never taken: only CometAPI's answer prices a task
    locked = _locked_task(db, task_id, obs)
    if isinstance(locked, Recorded):
        return locked
    row, task = locked
    size = len(raw.encode())
    if over_history_bound(row["callback_count"], row["callback_bytes"], size, policy):
        if task.state not in TERMINAL_STATES:
            _bring_poll_forward(db, task.id, obs, now, policy, claim=False)
        return Recorded("over_limit", task)
    verdict: str | None = PENDING
    if task.state in TERMINAL_STATES:
        verdict = judge_on_ended(task.state, task.outputs, obs, now)
    recorded = _record(
        db, task, "callback", dedupe_key, obs, raw, subscriptions, now, policy.trust_body, verdict
    )
    if recorded.outcome == "duplicate":
        return recorded
    db.execute(db.sql.COUNT_CALLBACK, (size, task.id))
    if verdict == PENDING:
        _bring_poll_forward(db, task.id, obs, now, policy, claim=True)
        if obs.upstream_task_id and task.upstream_task_id is None and task.next_submit_at:
            # CometAPI has it (a send that timed out got through): it is not sent again.
            db.execute(db.sql.LEAVE_QUEUE, (task.id,))
        if take_poll is not None:
            owner, lease = take_poll
            recorded = replace(recorded, poll=outbox.claim_poll(db, task.id, owner, now, lease))
    return recorded


def _bring_poll_forward(
    db: Db, task_id: str, obs: Observation, now: float, policy: ClaimPolicy, claim: bool
) -> None:
    row = db.one(db.sql.LAST_POLLED, (task_id,))
    due = poll_due(now, (row or {}).get("last_polled_at"), policy)
    db.execute(db.sql.BRING_POLL_FORWARD, (claim, now, obs.upstream_task_id, due, due, task_id))


def _keep_cost(db: Db, task: Task, answer: Observation) -> None:
    """CometAPI's credits for a task whose state its answer does not move: the cost is its
    answer's whenever it gives one (under `trust_body` a callback may have ended the task
    before any poll did, and the callback's own figures are never taken)."""
    point = answer.point if answer.point is not None else task.point
    refund = answer.refund if answer.refund is not None else task.refund
    if (point, refund) != (task.point, task.refund):
        db.execute(db.sql.SET_TASK_COST, (point, refund, task.id))


def _pending_claims(db: Db, task_id: str) -> list[Claim]:
    claims = []
    for r in db.all(db.sql.PENDING_CLAIMS, (task_id,)):
        outputs = tuple(orjson.loads(r["payload"])["outputs"])
        claims.append(Claim(r["id"], r["state"], outputs, r["received_at"]))
    return claims


def finish_poll(
    db: Db,
    task_id: str,
    owner: str,
    answer: Observation | None,
    raw: str,
    subscriptions: Subscriptions,
    now: float,
    next_poll_at: float | None,
    window: float,
    mirror: bool = False,
    resubmits_allowed: int = 0,
    take_deliveries: tuple[frozenset[str], float] | None = None,
) -> PollResult:
    """Store one poll's outcome in one transaction: the callbacks' claims it settles, the
    answer (applied when it moves the task forward), and when to poll next (None: never);
    then give the poll lease back. A failure worth another try, while `resubmits_allowed`
    are left, is kept as history and the task goes back to the submit queue instead.
    `take_deliveries` (downstreams, lease seconds): the new event's deliveries to those
    downstreams are leased to `owner` here, to be sent at once."""
    row = db.one(db.sql.LOCKED_TASK, (task_id,))
    if row is None:
        return PollResult(None, [])
    task = Task.from_row(row)
    claims = _pending_claims(db, task_id) if task.claim_since is not None else []
    settlement = settle(claims, answer, now, window, polled_again=next_poll_at is not None)
    settled = [Settled(claim, verdict) for claim, verdict in settlement.verdicts]
    for claim, verdict in settlement.verdicts:
        db.execute(db.sql.SET_VERDICT, (verdict, now, claim.event_id))
    recorded = None
    if answer is not None:
        key = f"poll:{answer.state}:{answer.upstream_status}"
        if task.resubmits:
            key = f"poll:{task.resubmits}:{answer.state}:{answer.upstream_status}"  # new upstream
        again = (
            answer.state == "failed"
            and task.state not in TERMINAL_STATES
            and resubmit(answer.failure_code, task.resubmits, resubmits_allowed)
        )
        recorded = _record(
            db, task, "poll", key, answer, raw, subscriptions, now, not again, mirror=mirror
        )
        if again and recorded.outcome != "duplicate":
            _requeue(db, row, task, now)
            db.execute(db.sql.FINISH_POLL, (None, now, None, task_id, owner))
            return PollResult(recorded, settled, resubmitted=True)
        if recorded.outcome != "applied":
            _keep_cost(db, task, answer)
    state = recorded.task.state if recorded and recorded.task else task.state
    progress = progress_fraction(answer.progress) if answer is not None else None
    if progress is not None and state not in TERMINAL_STATES and progress != task.progress:
        db.execute(db.sql.SET_PROGRESS, (progress, now, task_id))
    waiting_since = settlement.waiting_since
    next_poll_at = next_poll(now, next_poll_at, waiting_since, state in TERMINAL_STATES)
    db.execute(db.sql.FINISH_POLL, (next_poll_at, now, waiting_since, task_id, owner))
    handed: list[DeliveryJob] = []
    if take_deliveries is not None and recorded is not None:
        downstreams, lease = take_deliveries
        handed = outbox.lease_new_deliveries(
            db, recorded.delivery_ids, downstreams, owner, now, lease
        )
    return PollResult(recorded, settled, handed=handed)


def _requeue(db: Db, row: Row, task: Task, now: float) -> None:
    """Back to the submit queue, to be sent as a new upstream task; the failed one's id is
    set aside, so that its late reports cannot bind the task again."""
    replaced = [*orjson.loads(row["replaced_upstream_ids"]), task.upstream_task_id]
    db.execute(db.sql.REQUEUE_FAILED, (orjson.dumps(replaced).decode(), now, now, now, task.id))
