"""Polling: ask CometAPI about tasks whose callback has not come (or never will).

Official-format tasks have no callback and are polled from the start, when the rule of
receiver/lifecycle/rules/polling.py says: dense around the end it estimates, sparse before.
Reverse-format tasks are polled at once when a callback comes (the callback is only a
claim, and the poll's answer is what changes the task and settles the claim:
receiver/lifecycle/rules/reports.py). CometAPI calls back only when a task ends, so one
is asked every `waiting_gap_seconds` until CometAPI says it runs; then, with no callback, a
few times around where such tasks usually end (a lost callback), then once
`callback_grace_seconds` pass, at intervals growing by `backoff_factor` up to
`max_interval_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

from receiver.config.sections import PollingConfig
from receiver.downstreams.directory import Directory
from receiver.kernel.errors import UpstreamError
from receiver.kernel.observability import tracing
from receiver.kernel.observability.logs import Log
from receiver.lifecycle.comet.client import CometClient, Polled
from receiver.lifecycle.rules.polling import CallbackPolls, PollRule
from receiver.lifecycle.rules.records import DeliveryJob, PollJob, Settled
from receiver.lifecycle.rules.reports import Observation, sane_credits
from receiver.lifecycle.rules.retries import poll_backoff
from receiver.lifecycle.rules.task import is_callback
from receiver.lifecycle.rules.wakeups import Work
from receiver.lifecycle.transactions import polls
from receiver.wiring.handoff import NOTHING_RESERVED, DeliveryHandoff, PollHandoff, WorkerParts
from receiver.wiring.set_aside import set_aside


class Poller:
    """Each part given at start-up (receiver/app/build.py): what every worker stands on,
    CometAPI's client, the polls callbacks hand over (`handed`) and the deliveries it hands
    to the fan-out; the downstreams (`directory`), the polling settings, how a poll's
    outcome is recorded (`recording`, its subscriptions read at each poll) and how long
    after its send an upstream-less task counts as cut off (`orphan_wait`)."""

    def __init__(
        self,
        parts: WorkerParts,
        comet: CometClient,
        handoffs: tuple[PollHandoff, DeliveryHandoff],
        directory: Directory,
        settings: PollingConfig,
        recording: polls.PollPolicy,
        orphan_wait: float,
    ) -> None:
        self.store = parts.store
        self.metrics = parts.metrics
        self.log = parts.log
        self.owner = parts.owner
        self.wakers = parts.wakers
        self.comet = comet
        self.handed, self.deliveries = handoffs
        self.directory = directory
        self.settings = settings
        self.lease = settings.lease(parts.owner)  # how it leases its polls, and their budget
        self.recording = recording
        self.orphan_wait = orphan_wait
        self._orphans_read = 0.0  # when cut-off submits were last looked for
        self.rule = self.settings.rule()
        self._held_until = 0.0  # monotonic: till then CometAPI asked for no polls
        gap = self.settings.lost_callback_gap_seconds
        self.lost_callback_rule = replace(
            self.rule, near_gap=gap, running_gap=max(gap, self.rule.running_gap)
        )

    async def _hold(self, retry_after: float | None) -> None:
        """CometAPI's 429 on a poll holds every poll (not the submits) of every replica for
        its Retry-After, at most the polls' ceiling, so that no task waits longer: this
        process's at once, the others' through the budget they share."""
        wait = min(retry_after or self.settings.waiting_gap_seconds, self.rule.ceiling)
        self._held_until = max(self._held_until, time.monotonic() + wait)
        await polls.hold(self.store, wait)

    async def _held(self) -> None:
        wait = self._held_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _interval(self, attempts: int) -> float:
        s = self.settings
        return poll_backoff(attempts, s.interval_seconds, s.backoff_factor, s.max_interval_seconds)

    def _next(self, job: PollJob, now: float, failed: bool) -> float | PollRule | CallbackPolls:
        """The rule for a task with no callback coming; a callback-route task's own within
        its grace period (asked until it runs, then for a lost callback); then the grace
        period and the backoff. A poll CometAPI failed says nothing of the task: the next
        backs off, up to the ceiling (a callback-route task's, to the grace period)."""
        if not is_callback(job.kind):
            if failed:
                return now + min(self._interval(job.poll_attempts), self.rule.ceiling)
            return self.rule
        grace_at = job.created_at + self.settings.callback_grace_seconds
        later_at = max(grace_at, now + self._interval(job.poll_attempts))
        if failed or now >= grace_at:
            return later_at
        return CallbackPolls(
            grace_at,
            later_at,
            self.settings.waiting_gap_seconds,
            self.lost_callback_rule,
            self.settings.lost_callback_polls,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        handoff = self.handed
        handoff.limit = self.settings.batch_size
        handed = asyncio.create_task(self._run_handed(), name="handed-polls")
        try:
            await self._run_claimed(stopping)
        finally:
            handoff.limit = 0  # callbacks leave their polls to the claims from here on
            handed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handed

    async def _run_handed(self) -> None:
        """Run each poll a callback leased as it is handed over. Cancelled at stop, it lets
        the polls already running finish; one handed but not begun keeps its lease until
        the leases are given back at close."""
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                job = await self.handed.take()
                poll = asyncio.create_task(self._poll_handed(job))
                running.add(poll)
                poll.add_done_callback(running.discard)
        finally:
            await asyncio.gather(*running, return_exceptions=True)

    async def _poll_handed(self, job: PollJob) -> None:
        try:
            await self._poll_isolated(job)
        finally:
            self.handed.done()

    async def _poll_isolated(self, job: PollJob) -> None:
        """`poll_one`, with whatever it raises kept to that task."""
        try:
            await self.poll_one(job)
        except Exception as exc:
            await set_aside(self, "poll", job.task_id, exc)

    async def _run_claimed(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            jobs: list[PollJob] = []
            # Once a tick, not at every wake-up: each callback wakes the poller, and an
            # orphan waits minutes anyway. Apart from the claim: neither stops the other.
            if time.monotonic() - self._orphans_read >= self.settings.scan_seconds:
                self._orphans_read = time.monotonic()
                try:
                    await self._fail_orphans()
                except Exception:
                    self.log.exception("submit.orphans_failed")
            await self._held()
            try:
                jobs = await polls.claim(self.store, self.lease, self.settings.batch_size)
            except Exception:
                self.log.exception("poll.claim_failed")
            await asyncio.gather(*(self._poll_isolated(job) for job in jobs))
            if len(jobs) < self.settings.batch_size and not stopping.is_set():
                # A callback wakes the poller early: it asks CometAPI about that task now.
                await self.wakers.wait(Work.POLLS, self.settings.scan_seconds)

    async def poll_one(self, job: PollJob) -> None:
        with tracing.span(
            "comet.poll",
            job.trace_context,
            task_id=job.task_id,
            kind=job.kind,
            upstream_task_id=job.upstream_task_id,
            attempt=job.poll_attempts + 1,
        ) as span:
            await self._poll_one(job, span)

    async def _poll_one(self, job: PollJob, span: tracing.Span) -> None:
        log = self.log.bind(task_id=job.task_id, upstream_task_id=job.upstream_task_id)
        age = time.time() - job.created_at
        polled = await self._ask(job, span, log)
        answer = polled.observation if polled is not None else None
        if answer is not None:
            answer, refused = sane_credits(answer)
            if refused:
                log.warning("poll.credits_refused", **refused)
        if polled is not None:
            self.metrics.polls.labels("not_exist" if answer is None else "observed").inc()
            span.set(state=answer.state if answer else "not_exist")
        if (
            polled is not None
            and answer is None
            and age > self.settings.task_not_exist_grace_seconds
        ):
            log.warning("poll.task_not_exist", age_seconds=round(age, 1))
        gave_up = age > self.settings.give_up_after_seconds
        # Read at each poll: the directory's subscriptions are replaced whenever a
        # downstream is made, changed or removed through the API.
        policy = replace(self.recording, subscriptions=self.directory.subscriptions)
        next_at = None if gave_up else self._next(job, time.time(), failed=polled is None)
        raw = polled.raw if polled is not None else ""
        done = polls.Answer(job.task_id, self.owner, answer, raw, next_at)
        # The fan-out of this process, if one runs, straight: no hop through the hand-off.
        taker = self.deliveries.taker
        reserved = taker.reserve() if taker is not None else NOTHING_RESERVED
        handed: list[DeliveryJob] = []
        try:
            result = await polls.answered(self.store, done, policy, reserved.downstreams)
            handed = result.handed
        finally:
            # The unused slots given back, then the jobs started. Jobs no fan-out takes any
            # more (it stopped meanwhile) keep their leases until they are given back.
            reserved.release()
            if handed and (taker := self.deliveries.taker) is not None:
                taker.start(handed)
        if result.resubmitted:
            self.wakers.wake(Work.SUBMITS)
            log.warning(
                "task.resubmitted",
                failure_code=answer and answer.failure_code,
                reason=answer and answer.error,
            )
        recorded = result.recorded
        if recorded is not None and recorded.outcome == "applied":
            self.wakers.recorded(recorded, frozenset(job.delivery.id for job in handed))
            log.info(
                "poll.state_changed", state=answer and answer.state, event_id=recorded.event_id
            )
        for settled in result.settled:
            span.set(verdict=settled.verdict, claim_event_id=settled.claim.event_id)
            self._report(log, settled, answer)
        if gave_up:
            await self._give_up(job, age)

    async def _ask(self, job: PollJob, span: tracing.Span, log: Log) -> Polled | None:
        """CometAPI's answer, or None when asking failed (a 429 holds every poll a while)."""
        started = time.monotonic()
        polled: Polled | None = None
        try:
            await self._held()
            polled = await self.comet.poll(job.kind, job.upstream_task_id)
        except UpstreamError as exc:
            if exc.upstream_status == 429:
                await self._hold(exc.retry_after)
            span.set(status=exc.upstream_status)
            span.failed(exc.message)
            self.metrics.polls.labels("error").inc()
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            log.warning(
                "poll.failed",
                upstream_status=exc.upstream_status,
                reason=exc.message,
                elapsed_ms=elapsed_ms,
            )
        finally:
            self.metrics.poll_seconds.observe(time.monotonic() - started)
        return polled

    def _report(self, log: Log, settled: Settled, answer: Observation | None) -> None:
        """Count a callback's verdict; a contradicted one is logged with both sides."""
        claim, verdict = settled.claim, settled.verdict
        self.metrics.callbacks.labels(verdict).inc()
        line = log.warning if verdict == "contradicted" else log.info
        line(
            f"callback.{verdict}",
            event_id=claim.event_id,
            claimed_state=claim.state,
            claimed_outputs=list(claim.outputs),
            upstream_state=answer.state if answer else None,
            upstream_status=answer.upstream_status if answer else None,
            upstream_outputs=list(answer.outputs) if answer else None,
        )

    async def _fail_orphans(self) -> None:
        """A task with no upstream id can't be polled: if its send was cut off (crash or
        kill mid-call) and no callback came either, say so instead of leaving it queued.
        It is not sent again: CometAPI may have taken it, and would run it twice."""
        store = self.store
        for task_id in await polls.orphaned(store, time.time() - self.orphan_wait):
            try:
                recorded = await polls.fail_orphan(store, task_id, self.directory.subscriptions)
            except Exception as exc:
                await set_aside(self, "orphan_sweep", task_id, exc)
                continue
            self.wakers.recorded(recorded)
            self.log.warning("task_transactions.orphaned", task_id=task_id)

    async def _give_up(self, job: PollJob, age: float) -> None:
        """A task that never ends would be polled forever: declare it failed, once."""
        store, subscriptions = self.store, self.directory.subscriptions
        recorded = await polls.give_up(store, job.task_id, age, subscriptions)
        self.wakers.recorded(recorded)
        self.log.warning("poll.gave_up", task_id=job.task_id, age_seconds=round(age))
