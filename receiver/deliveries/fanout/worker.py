"""Fan-out: deliver outbox rows to downstreams, with retries, backoff and a dead-letter state
(as Svix and Convoy: at least once, one stable `webhook-id` across retries; rows are leased,
so a crashed worker's are taken over when the lease runs out). `prepare` shapes what one
delivery sends, for every format, the pull endpoint and a test event alike: a new format gets
filters and transforms by building its default body. Each downstream's lane is made when it
has work, in connections.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from receiver.alerts.hooks import Alerts
from receiver.config import Downstream
from receiver.config.sections import AlertsConfig, DeliveryConfig
from receiver.deliveries import transactions as delivery_story
from receiver.deliveries.fanout.connections import Connections, origin_of
from receiver.deliveries.fanout.handshakes import Handshakes
from receiver.deliveries.fanout.lanes import Lane, startable, task_webhooks, with_rows_due
from receiver.destinations import cloudevents
from receiver.destinations.http import message_of, storable
from receiver.destinations.publishing import Outcome
from receiver.destinations.webhook import webhook
from receiver.downstreams import transactions as downstream_transactions
from receiver.downstreams.directory import Directory
from receiver.expressions.evaluate import evaluate
from receiver.expressions.lines import RELAY_DOWNSTREAMS, TASK_WEBHOOKS
from receiver.expressions.rules import REFUSED, ExpressionFailed, Shaped
from receiver.kernel.errors import Overloaded
from receiver.kernel.observability import logs, tracing
from receiver.kernel.store.db import new_id
from receiver.keys.webhook_keys import TaskWebhookKeys
from receiver.lifecycle.handoff import DeliveryHandoff
from receiver.lifecycle.rules.records import Work
from receiver.outbox.rules.delivery import (
    STATE_NUMBERS,
    TASK_WEBHOOK,
    Answer,
    Attempt,
    Decision,
    Delivery,
    DeliveryJob,
    RetryPolicy,
    decide,
    is_task_webhook,
    owner_of,
)
from receiver.outbox.rules.pacing import claim_turn
from receiver.wiring.worker_parts import WorkerParts

# What last_error keeps of an attempt's failure ("HTTP 404: " and the answer's start).
_MAX_ERROR = 210
GONE = 410
# A delivery the expression pool was too busy for is due again this much later, uncounted.
OVERLOADED_WAIT = 0.5


@dataclass(frozen=True)
class Refused:
    """The filter did not take the event (or failed on it): why, kept on the delivery."""

    reason: str
    failed: bool  # the expression failed, rather than answering false


def filter_of(downstream: Downstream, job: DeliveryJob) -> str | None:
    """A task's own webhook carries the task's filter; any other downstream its own."""
    return job.webhook_filter if job.webhook is not None else downstream.filter


def line_of(downstream: Downstream, job: DeliveryJob) -> str:
    """Whose line in the expression pool its evaluation waits in: its app's (its tasks' own
    webhooks' too), else the relay's own downstreams' (the operator's tasks' own webhooks
    have one of theirs)."""
    if (owner := owner_of(downstream.name)) is not None:
        return owner
    return TASK_WEBHOOKS if job.webhook is not None else RELAY_DOWNSTREAMS


async def prepare(
    downstream: Downstream, job: DeliveryJob, default: Callable[[], Shaped]
) -> Shaped | Refused:
    """The request's parts, or why it is not sent: the filter and the transform evaluated in
    one round trip to a process (receiver/expressions/pool.py), never on the loop. One
    stopped for passing its budget is refused with why. A transform that fails raises
    ExpressionFailed (a body over 1 MiB, too): sending it again cannot help until the
    transform changes; Overloaded when the processes are too busy (tried again later)."""
    source = filter_of(downstream, job)
    transform = downstream.transform
    if source is None and transform is None:  # the common case: nothing to evaluate
        shaped = default()
    else:
        line = line_of(downstream, job)
        verdict, made = await evaluate(source, transform, webhook(job.payload), line)
        if not verdict.matched:
            reason = verdict.reason or REFUSED
            return Refused(reason, failed=verdict.cut or reason.startswith("filter failed"))
        shaped = made or default()
    if not downstream.headers:
        return shaped
    return Shaped(shaped.body, shaped.method, shaped.path, {**downstream.headers, **shaped.headers})


class Fanout:
    """Claims each downstream's due rows within its own share and sends them: a downstream
    that hangs or fails holds at most its `max_in_flight` slots, so the others keep their
    pace. Caps, rates and breakers are per process; being disabled is shared, in the store."""

    def __init__(
        self,
        parts: WorkerParts,
        settings: DeliveryConfig,
        directory: Directory,
        handoff: DeliveryHandoff,
        task_webhook_secret: str | None = None,
        alerts: AlertsConfig | None = None,
        task_webhook_keys: TaskWebhookKeys | None = None,
    ) -> None:
        """`handoff`: where transactions hand this process's fan-out their new deliveries;
        `task_webhook_secret` signs the operator's own tasks' webhooks (none: no such lane),
        `task_webhook_keys` each app's tasks' (none: no such lanes)."""
        self.parts = parts
        self.directory = directory
        self.handoff = handoff
        self.settings = settings
        self.policy = RetryPolicy(
            tuple(self.settings.retry_schedule),
            self.settings.jitter,
            self.settings.max_downstream_retry_after_seconds,
        )
        task_lane = task_webhooks(task_webhook_secret, settings)
        self.out = Connections(parts.metrics, settings, directory, task_lane, task_webhook_keys)
        self._in_flight: set[asyncio.Task[None]] = set()  # holding a slot
        self._recording: set[asyncio.Task[None]] = set()  # answered, outcome being stored
        # Refill once a quarter of the slots is free, not after every single attempt:
        # each claim is a store transaction, and one per delivery made claims the bottleneck.
        limit = self.settings.concurrency
        self._refill_at = limit - max(1, limit // 4)
        self._slots = asyncio.Event()
        self._given_back = asyncio.Event()  # leases handed over were given back
        self._rows_new = True  # rows committed since the store was last searched
        # The attempts holding a lane's slot, each with its turn: attempts are numbered as
        # they begin (a claim's clock is read before its transaction, a commit's after).
        self._lane_of: dict[asyncio.Task[None], tuple[Lane, int]] = {}
        self._turns = itertools.count()
        self._disabled: set[str] = set()
        self._turn = 0  # which lane claims first in the next round
        self._disabled_read = 0.0
        # Operator alerts (receiver/alerts): told of breakers, dead letters and disables.
        wake, scan = parts.wakers.wake_deliveries, settings.outbox_scan_seconds
        told = alerts or AlertsConfig()
        self.alerts = Alerts(parts.store, parts.log, wake, told, scan, directory)
        self.handshakes = Handshakes(parts, settings, directory, self.out.from_the_api, self.alerts)

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and send until `stopping` is set; then let in-flight attempts finish."""
        self.out.open_held()
        await downstream_transactions.register(self.parts.store, list(self.out.downstreams))
        self.handoff.taker = self
        try:
            while not stopping.is_set():
                claimed = 0
                try:
                    claimed = await self._claim()
                except Exception:
                    self.parts.log.exception("fanout.claim_failed")
                # Rows may still wait only in a lane whose last claim came back full.
                more = self._rows_new or bool(self.out.busy.undrained)
                if not (claimed and more) or self._free() <= 0:
                    await self._idle(stopping, slots=more)
        finally:
            self.handoff.taker = None
        await self._drain()

    def _free(self) -> int:
        return self.settings.concurrency - len(self._in_flight)

    def start(self, jobs: list[DeliveryJob]) -> None:
        """Send the deliveries a committed transaction leased to this process as it made
        them, those `startable` now; the others' leases are given back at once, for the
        claims (a lane changed or removed meanwhile gives its job back too)."""
        now, backlogged = time.time(), bool(self.out.busy.backlogged)
        refused: list[DeliveryJob] = []
        laneless: dict[str, list[DeliveryJob]] = {}
        for job in jobs:
            lane = self.out.lanes.get(job.delivery.downstream)
            if lane is None:  # its downstream idle until now: its lane is made first
                laneless.setdefault(job.delivery.downstream, []).append(job)
            elif startable(lane, backlogged, self._disabled, self._free(), now):
                self._start(job, lane, now, None)  # unrated: none leased within a rate
            else:
                refused.append(job)
        if laneless:
            self.out.open_later(list(laneless), partial(self._lanes_made, laneless))
        if refused:
            self._giving_back(refused)

    def _lanes_made(self, laneless: dict[str, list[DeliveryJob]]) -> None:
        """Their lanes made, the jobs leased meanwhile start as if just handed over; with no
        lane (no such downstream usable here), their leases are given back."""
        lanes = self.out.lanes
        self.start([job for name, jobs in laneless.items() if name in lanes for job in jobs])
        lost = [job for name, jobs in laneless.items() if name not in lanes for job in jobs]
        if lost:
            self._giving_back(lost)

    def _giving_back(self, jobs: list[DeliveryJob]) -> None:
        giving = asyncio.create_task(self._give_back(jobs))
        self._recording.add(giving)
        giving.add_done_callback(self._recording.discard)

    async def _give_back(self, jobs: list[DeliveryJob]) -> None:
        """Their leases given back, for their lanes' claims (the store is not searched)."""
        try:
            ids = [job.delivery.id for job in jobs]
            await delivery_story.give_back_leases(self.parts.store, ids, self.parts.owner)
        except Exception:  # their leases run out instead
            self.parts.log.exception("fanout.give_back_failed", deliveries=len(jobs))
            return
        self.out.have_rows(job.delivery.downstream for job in jobs)
        self._given_back.set()  # for the next claim

    async def _claim(self) -> int:
        """One round: each lane claims what its share allows, all in one go; a lane that
        gets less than it asked for is drained."""
        self._given_back.clear()  # this round claims what was given back
        await self.out.follow()
        now = time.time()
        if ticked := now - self._disabled_read >= self.settings.outbox_scan_seconds:
            # Disabled by another replica or an operator: seen within a tick.
            self._disabled = await downstream_transactions.disabled_and_held(self.parts.store)
            self._disabled_read = now
            await self.alerts.seen_disabled(self._disabled)
            self.out.let_go(now)  # the lanes idle a while: made again when they have work
        await self.alerts.tick()  # held alerts whose quiet window ended
        await self.handshakes.tick()  # paused CloudEvents webhooks asked again
        free = self._free()
        for lane, state in self.out.breakers_moved(now):
            await self._report_breaker(lane, state)
        if free <= 0:
            return 0
        # Only the lanes with work are visited (`Busy`): a round costs the same with many.
        woken, self._rows_new, lanes, busy = self._rows_new, False, self.out.lanes, self.out.busy
        search, every = ticked or woken, lanes if woken else None
        due = await with_rows_due(self.parts.store, busy, self._disabled, search, every)
        # The lanes of the downstreams with work and none yet (an app's task webhooks' with
        # its keys read again: none while they do not open, and its rows wait).
        await self.out.with_work(due, now)
        found = [lanes[name].place for name in due - busy.backlogged.keys() if name in lanes]
        places = sorted([*busy.places, *found]) if found else list(busy.places)
        allowed = partial(Lane.allowance, now=now, free=free)  # of each lane
        wanted, self._turn = claim_turn(
            places, self.out.placed.__getitem__, self._turn, free, allowed
        )
        lease = self.settings.attempt_lease_seconds
        claim = partial(delivery_story.claim, self.parts.store, self.parts.owner, lease)
        claims = [
            claim(n, lane.downstream.name, lane.claim_rate(), lane.ordered) for lane, n in wanted
        ]
        batches = await asyncio.gather(*claims, return_exceptions=True)
        for (lane, asked), jobs in zip(wanted, batches, strict=True):
            if isinstance(jobs, BaseException):
                # One lane's claim failing (a row it could not read) leaves the others be.
                self.parts.metrics.item_failures.labels("fanout").inc()
                if lane.claim_failed(jobs):  # logged once per change of its error
                    name = lane.downstream.name
                    self.parts.log.error("fanout.lane_claim_failed", downstream=name, exc_info=jobs)
                continue
            if lane.claim_failure is not None:
                lane.claim_failure = None
                self.parts.log.info("fanout.lane_claim_recovered", downstream=lane.downstream.name)
            lane.claimed(len(jobs), asked)
            for job in jobs:
                self._start(job, lane, now, lane.claimed_per_second)
        return sum(len(jobs) for jobs in batches if not isinstance(jobs, BaseException))

    def _start(self, job: DeliveryJob, lane: Lane, now: float, rate: float | None) -> None:
        """`rate`: the one it was leased within (None: none)."""
        lane.used_at = now
        if lane.bucket is not None:
            lane.bucket.take(1)
        lane.breaker.started(now)
        turn = next(self._turns)
        lane.began(turn)
        task = asyncio.create_task(self._attempt(job, lane, rate))
        self._in_flight.add(task)
        self._lane_of[task] = lane, turn
        task.add_done_callback(self._finished)

    async def _report_breaker(self, lane: Lane, state: str) -> None:
        lane.reported = state
        name = lane.downstream.name
        self.parts.metrics.breakers[name] = STATE_NUMBERS[state]
        line = self.parts.log.info if state != "open" else self.parts.log.warning
        line("downstream.breaker", downstream=name, state=state)
        await downstream_transactions.note_breaker(self.parts.store, name, state)
        await self.alerts.breaker(name, state)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._recording.discard(task)
        self._free_slot(task)  # when it ended before its answer was in

    def _answered(self) -> int:
        """The answer is in: the slot goes to the next delivery while the outcome waits for
        its commit (this row's lease keeps it from being claimed again meanwhile)."""
        if (me := asyncio.current_task()) is not None:
            self._recording.add(me)
        return self._free_slot(me)

    def _free_slot(self, task: asyncio.Task[None] | None) -> int:
        """Its slot given back (once): how many of its lane's attempts still in flight
        began before it."""
        if task is None or (held := self._lane_of.pop(task, None)) is None:
            return 0
        lane, turn = held
        self._in_flight.discard(task)
        older = lane.ended(turn)
        if len(self._in_flight) <= self._refill_at or lane.refill():
            self._slots.set()
        return older

    async def _idle(self, stopping: asyncio.Event, slots: bool) -> None:
        """Sleep until new rows are committed, a tick passes or we stop; and, while rows
        may still wait (`slots`), until slots free up. A slot freed once every queue was
        emptied is no reason to claim: each claim is a transaction."""
        scan = self.settings.outbox_scan_seconds
        rows = asyncio.create_task(self.parts.wakers.wait(Work.DELIVERIES, scan))
        waiters = [rows, *map(asyncio.create_task, (stopping.wait(), self._given_back.wait()))]
        self._slots.clear()
        if slots:
            waiters.append(asyncio.create_task(self._slots.wait()))
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        if rows in done:  # new rows, or a tick: any lane may have work again
            self._rows_new = True  # the store is searched for them, its lanes not drained

    async def _drain(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        if self._in_flight:
            self.parts.log.info("fanout.draining", in_flight=len(self._in_flight))
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
        if self._recording:
            await asyncio.wait(set(self._recording))
        # Whatever is unfinished stays pending; the lifespan hands its lease back.
        await self.handshakes.close()
        await self.out.close()

    async def _gone(self, delivery: Delivery, downstream: Downstream) -> bool:
        """The receiver answered 410 Gone (Standard Webhooks: stop sending). A task's own
        webhook takes nothing more of that task; a downstream is disabled, with the reason,
        until an operator enables it. True when a downstream was disabled."""
        reason = "the receiver answered 410 Gone"
        store, log, name = self.parts.store, self.parts.log, downstream.name
        if is_task_webhook(name):
            ended = await delivery_story.webhook_gone(
                store, delivery.task_id, reason, delivery.id, name
            )
            log.warning("task_webhook.gone", task_id=delivery.task_id, deliveries_ended=ended)
            return False
        await delivery_story.disable(store, name, reason, self.directory.subscribers)
        return True

    async def _attempt(self, job: DeliveryJob, lane: Lane, was: float | None) -> None:
        delivery = job.delivery
        # Passed to the attempt's one line, not bound: bind() would build a logger each time.
        ids = {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "task_id": delivery.task_id,
            "upstream_task_id": job.payload.get("upstream_task_id"),
            "downstream": delivery.downstream,
            "attempt": delivery.attempts + 1,
        }
        document = {"kind": job.payload.get("kind"), "state": job.payload.get("state")}
        # Its downstream's own secrets (an app's, its OAuth2 token) kept out of logs and traces.
        with (
            logs.scoped(*lane.scope),
            tracing.span("delivery.attempt", job.trace_context, **ids, **document) as span,
        ):
            await self._attempt_traced(job, lane, span, ids, was)

    async def _attempt_traced(
        self,
        job: DeliveryJob,
        lane: Lane,
        span: tracing.Span,
        ids: dict[str, Any],
        was: float | None,
    ) -> None:
        delivery = job.delivery
        downstream = self.out.downstreams.get(delivery.downstream)
        unanswered = None  # its endpoint gave the handshake no answer: this attempt failed
        if downstream is not None and job.webhook is None and lane.handshake:
            found = await self.handshakes.before(downstream, lane)
            if isinstance(found, Answer):
                unanswered = Outcome(found)
            elif not found.allowed:
                self._hold_unvalidated(lane)
                return
            elif (rate := lane.per_second) is not None and (was is None or rate < was):
                # Leased before its rate was known, or lowered: claimed again within it.
                await self._postpone(job, lane, "its endpoint's allowed rate", ids, 0.0)
                return
        started_at, started = time.time(), time.monotonic()
        try:
            decision, outcome = await self._decided(job, downstream, ids, unanswered)
        except Overloaded as exc:
            await self._postpone(job, lane, str(exc), ids, OVERLOADED_WAIT)
            return
        elapsed = time.monotonic() - started
        status = outcome.answer.status if outcome is not None else None
        span.set(status=status, outcome=decision.outcome)
        # Kept in last_error and shown by the API: a downstream's answer may echo its URL.
        error = storable(logs.scrub(decision.error, _MAX_ERROR)) if decision.error else None
        if error is not None:
            span.failed(error)
        label = self.parts.metrics.downstream(delivery.downstream)  # an app's: `<app>/<name>`
        self.parts.metrics.deliveries.labels(label, decision.outcome).inc()
        self.parts.metrics.delivery_seconds.labels(label).observe(elapsed)
        older = self._answered()
        abort = outcome is not None and outcome.answer.abort
        health = self._health(downstream, lane, decision.outcome, abort, older)
        # Before this attempt is recorded: the task's next event there becomes due the
        # moment this one ends, and must already be ended too.
        gone = status == GONE and downstream is not None and await self._gone(delivery, downstream)
        record = Attempt(
            id=new_id("att"),
            delivery_id=delivery.id,
            task_id=delivery.task_id,
            downstream=delivery.downstream,
            number=ids["attempt"],
            started_at=started_at,
            finished_at=started_at + elapsed,
            latency_ms=round(elapsed * 1000, 2),
            status=status,
            error=error,
            outcome=decision.outcome,
            excerpt=outcome.excerpt if outcome is not None else None,
        )
        posted = outcome.posted if outcome is not None else None
        await self._record(record, decision.next_attempt_at, health, posted, gone, ids)

    async def _decided(
        self,
        job: DeliveryJob,
        downstream: Downstream | None,
        ids: dict[str, Any],
        unanswered: Outcome | None = None,
    ) -> tuple[Decision, Outcome | None]:
        """What follows this attempt, and what its publisher brought back (None: nothing
        was published; `unanswered`: its handshake got no answer, nothing to publish)."""
        attempt = ids["attempt"]
        if downstream is None:
            return Decision("dead", time.time(), "downstream is no longer configured"), None
        if unanswered is not None:
            return decide(self.policy, attempt, unanswered.answer, time.time()), unanswered
        try:
            # Its body made, signed and published by receiver/destinations/ (registry.py,
            # http.py) in one go: the attempt leaves for the destination once, with its answer.
            lane = self.out.lanes[downstream.name]  # the lane of `downstream` as it is now
            shaped = await prepare(downstream, job, partial(lane.body, job))
            if isinstance(shaped, Refused):
                label = self.parts.metrics.downstream(downstream.name)
                self.parts.metrics.filtered.labels(label, str(shaped.failed).lower()).inc()
                return Decision("filtered", time.time(), shaped.reason), None
            # One delivery to its downstream's publisher, whatever the destination.
            publisher = self.out.publishers.get(downstream.name)
            outcome = (
                await publisher.publish(
                    message_of(downstream, job, shaped, self._origin(job, downstream))
                )
                if publisher is not None
                else Outcome(Answer(failure="the downstream was changed or removed"))
            )
            return decide(self.policy, attempt, outcome.answer, time.time()), outcome
        except ExpressionFailed as exc:  # the same every time: no retry helps
            return Decision("dead", time.time(), str(exc)), None
        except Overloaded:  # the relay's own state, never the downstream's failure
            raise
        except Exception as exc:
            # What it raised is its own failure, retried then dead-lettered: never left pending.
            self.parts.log.exception("delivery.attempt_raised", **ids)
            self.parts.metrics.item_failures.labels("fanout").inc()
            failure = Answer(failure=f"the attempt failed: {type(exc).__name__}")
            return decide(self.policy, attempt, failure, time.time()), None

    def _hold_unvalidated(self, lane: Lane) -> None:
        """Its endpoint did not allow the relay's CloudEvents: no attempt was made; the
        downstream is paused (receiver/deliveries/fanout/handshakes.py), its deliveries held
        (this one too), until its endpoint allows it."""
        self._answered()
        lane.breaker.untried()
        self._disabled_read = 0.0  # re-read at once: its rows are held now

    async def _postpone(
        self, job: DeliveryJob, lane: Lane, why: str, ids: dict[str, Any], wait: float
    ) -> None:
        """No attempt was made (the relay too busy to evaluate the delivery's filter or
        transform, or its endpoint's rate learnt), so none is counted, and its downstream's
        breaker and alerts hear nothing. Its lease is given back, due again in `wait` s
        (lost, it runs out)."""
        self._answered()
        lane.breaker.untried()
        until = time.time() + wait
        try:
            await delivery_story.postpone(
                self.parts.store, job.delivery.id, self.parts.owner, until
            )
        except Exception:
            self.parts.log.exception("delivery.postpone_failed", **ids)
            return
        self.parts.log.info("delivery.postponed", **ids, reason=why, next_attempt_in=wait)

    def _origin(self, job: DeliveryJob, downstream: Downstream) -> cloudevents.Origin | None:
        """Where a delivery in a CloudEvent envelope says it comes from (None: no envelope)."""
        if downstream.envelope == "relay":
            return None
        return origin_of(self.directory, self.settings, job.delivery.downstream)

    def _health(
        self, downstream: Downstream | None, lane: Lane, outcome: str, abort: bool, older: int
    ) -> delivery_story.AttemptHealth | None:
        """The downstream's breaker told of this attempt (`older`: its lane's attempts in
        flight begun before it), and its health to record; none for an attempt the receiver
        aborted, a filtered one, or a task's own webhook."""
        if downstream is None or abort or outcome == "filtered":
            return None
        if downstream.name == TASK_WEBHOOK:
            return None
        ok = outcome == "succeeded"
        if ok:
            lane.breaker.succeeded(time.time())
        else:
            lane.breaker.failed(time.time(), older)
            self.out.breaking.add(lane)  # looked at each round until closed again
        if is_task_webhook(downstream.name):  # an app's: its breaker, but no endpoint's health
            return None
        return delivery_story.AttemptHealth(
            downstream.name, ok, downstream.disable_after_seconds, self.directory.subscribers
        )

    async def _record(
        self,
        record: Attempt,
        next_at: float,
        health: delivery_story.AttemptHealth | None,
        posted: tuple[str, bool] | None,
        gone: bool,
        ids: dict[str, Any],
    ) -> None:
        """The attempt and its outcome stored, a downstream disabled told, and its line."""
        log = self.parts.log
        try:
            kept, disabled = await delivery_story.ended(
                self.parts.store, record, self.parts.owner, next_at, health, posted
            )
        except Exception:
            log.exception("delivery.record_failed", **ids)
            return
        await self.alerts.ended(record, kept, disabled or gone)
        if disabled or gone:
            why = "gone" if gone else "failing"
            log.warning("downstream.disabled", downstream=record.downstream, reason=why)
            self._disabled_read = 0.0  # re-read at once: its rows are held now
            self.parts.wakers.wake(Work.DELIVERIES)  # the notice to the other downstreams
        outcome = record.outcome
        lane = self.out.lanes.get(record.downstream)
        if kept and outcome != "retry" and lane is not None and lane.ordered and lane.drained:
            # Settled, its lane idle: the task's next event there may go now, not a tick
            # later (a lane with a backlog claims again as its slots free, in batches).
            self.parts.wakers.wake(Work.DELIVERIES)
        event = {"succeeded": "delivery.succeeded", "retry": "delivery.retry"}
        event["filtered"] = "delivery.filtered"
        log_line = log.info if outcome in ("succeeded", "filtered") else log.warning
        log_line(
            event.get(outcome, "delivery.dead_lettered"),
            **ids,
            status=record.status,
            error=record.error,
            seconds=round(record.finished_at - record.started_at, 4),
            next_attempt_in=round(next_at - time.time(), 1) if outcome == "retry" else None,
            lease_kept=kept,
        )
