"""Polling: ask CometAPI about tasks whose callback has not come (or never will). A
callback-route task is polled at once when a callback comes: the callback is only a claim,
and the poll's answer is what changes the task and settles the claim."""

from __future__ import annotations

import asyncio
import time

from receiver.config.sections import PollingConfig
from receiver.kernel.errors import UpstreamError
from receiver.kernel.observability import tracing
from receiver.kernel.observability.logs import Log
from receiver.kernel.recent import Recent
from receiver.lifecycle.comet import CometClient, Polled
from receiver.lifecycle.handoff import DeliveryHandoff, PollHandoff
from receiver.lifecycle.rules.records import PollJob, PollResult, Recorded, Settled, Work
from receiver.lifecycle.rules.task import ClaimPolicy, Observation, sane_credits
from receiver.lifecycle.transactions import polls
from receiver.lifecycle.transactions.observe import Report
from receiver.wiring.worker_parts import WorkerParts, set_aside

# Tasks a process remembers having asked CometAPI about for a callback, at most: each
# callback-asked task is kept `min_poll_gap` seconds.
ASKED_MEMORY = 10_000


class Poller:
    """Each part given at start-up (receiver/app/build.py); `orphan_wait`: how long after
    its send an upstream-less task counts as cut off."""

    def __init__(
        self,
        parts: WorkerParts,
        comet: CometClient,
        handoffs: tuple[PollHandoff, DeliveryHandoff],
        settings: PollingConfig,
        recording: polls.PollPolicy,
        orphan_wait: float,
    ) -> None:
        self.parts = parts
        self.comet = comet
        self.handed, self.deliveries = handoffs
        self.settings = settings
        self.lease = settings.lease(parts.owner)  # how it leases its polls, and their budget
        self.recording = recording
        self.orphan_wait = orphan_wait
        self._orphans_read = 0.0  # when cut-off submits were last looked for
        self.rule = self.settings.rule()
        self.schedule = self.settings.schedule()  # when each task is asked again
        self._held_until = 0.0  # monotonic: till then CometAPI asked for no polls
        self._running: set[asyncio.Task[None]] = set()  # the handed polls
        self._asked: Recent[bool] = Recent(0.0, ASKED_MEMORY)  # tasks a callback asked of
        self._opening: asyncio.Task[None] | None = None  # CometAPI's client, opening

    async def _hold(self, retry_after: float | None) -> None:
        """CometAPI's 429 on a poll holds every replica's polls for its Retry-After (at most
        the polls' ceiling): this process's at once, the others' through their budget."""
        wait = min(retry_after or self.settings.waiting_gap_seconds, self.rule.ceiling)
        self._held_until = max(self._held_until, time.monotonic() + wait)
        await polls.hold(self.parts.store, wait)

    async def _held(self) -> None:
        wait = self._held_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and poll until `stopping`, with the polls callbacks hand over meanwhile."""
        handoff = self.handed
        handoff.limit, handoff.taker = self.settings.batch_size, self
        try:
            await self._run_claimed(stopping)
        finally:
            # Callbacks leave their polls to the claims from here on.
            handoff.limit, handoff.taker = 0, None
            await asyncio.gather(*self._running, return_exceptions=True)

    def start(self, job: PollJob) -> None:
        """Run a poll a callback leased, as soon as its transaction committed."""
        poll = asyncio.create_task(self._poll_isolated(job))
        self._running.add(poll)
        poll.add_done_callback(self._handed_done)

    def _handed_done(self, poll: asyncio.Task[None]) -> None:
        self._running.discard(poll)
        self.handed.done()

    async def _poll_isolated(self, job: PollJob) -> None:
        """`poll_one`, with whatever it raises kept to that task."""
        try:
            await self.poll_one(job)
        except Exception as exc:
            await set_aside(self.parts, "poll", job.task_id, exc)

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
                    self.parts.log.exception("submit.orphans_failed")
            await self._held()
            try:
                jobs = await polls.claim(self.parts.store, self.lease, self.settings.batch_size)
            except Exception:
                self.parts.log.exception("poll.claim_failed")
            await asyncio.gather(*(self._poll_isolated(job) for job in jobs))
            if len(jobs) < self.settings.batch_size and not stopping.is_set():
                # A callback wakes the poller early: it asks CometAPI about that task now.
                await self.parts.wakers.wait(Work.POLLS, self.settings.scan_seconds)

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
        log = self.parts.log.bind(task_id=job.task_id, upstream_task_id=job.upstream_task_id)
        age = time.time() - job.created_at
        polled, answer = await self._ask(job.kind, job.upstream_task_id, log, span)
        grace = self.settings.task_not_exist_grace_seconds
        if polled is not None and answer is None and age > grace:
            log.warning("poll.task_not_exist", age_seconds=round(age, 1))
        gave_up = age > self.settings.give_up_after_seconds
        failed, now = polled is None, time.time()
        schedule, attempts = self.schedule, job.poll_attempts
        next_at = (
            None if gave_up else schedule.after(job.kind, job.created_at, attempts, now, failed)
        )
        raw = polled.raw if polled is not None else ""
        done = polls.Answer(job.task_id, self.parts.owner, answer, raw, next_at)
        policy = self.recording
        handing = self.deliveries.handing(self.parts.owner, policy.delivery_lease_seconds)
        result = await polls.answered(self.parts.store, done, policy, handing)
        self.deliveries.committed(result, self.parts.wakers)
        self._told(result, answer, log, span)
        if gave_up:
            await self._give_up(job, age)

    def _told(
        self, result: PollResult, answer: Observation | None, log: Log, span: tracing.Span
    ) -> None:
        """After an answer's commit: a resubmit and the claims it settled said."""
        recorded = result.recorded
        if result.resubmitted:
            self.parts.wakers.wake(Work.SUBMITS)
            log.warning(
                "task.resubmitted",
                failure_code=answer and answer.failure_code,
                reason=answer and answer.error,
            )
        changed = recorded.event_id if recorded and recorded.outcome == "applied" else None
        if changed and not result.settled:  # else the callback's line says so: one line
            log.info("poll.state_changed", state=answer and answer.state, event_id=changed)
        for settled in result.settled:
            span.set(verdict=settled.verdict, claim_event_id=settled.claim.event_id)
            self._report(log, settled, answer, changed)

    async def settle_now(
        self, task_id: str, report: Report, claims: ClaimPolicy, within: float
    ) -> Recorded | None:
        """A callback's claim with CometAPI's answer asked now, in one transaction, when it
        answers within `within` seconds; None (nothing stored) when it is not asked now or
        does not answer in time: the callback's claim then brings a poll forward."""
        upstream = report.obs.upstream_task_id
        if not self.comet.ready:  # the first callback: the client opens meanwhile
            if self._opening is None or self._opening.done():
                self._opening = asyncio.create_task(self.comet.open())
            return None
        if upstream is None or not self._may_ask(task_id, claims.min_poll_gap):
            return None
        started = time.time()
        log = self.parts.log.bind(task_id=task_id, upstream_task_id=upstream)
        try:
            # Its span is made once the task's trace is known, backdated to `started`.
            async with asyncio.timeout(within):  # in this task: no task of its own
                polled, answer = await self._ask(None, upstream, log, None)
        except TimeoutError:
            self.parts.metrics.polls.labels("error").inc()
            log.info("callback.answer_slow", waited_seconds=within)
            return None
        if polled is None or answer is None:
            return None  # failed, or CometAPI knows no such task: the usual polls decide
        policy = self.recording
        asked = polls.Answer(task_id, None, answer, polled.raw, self.schedule)
        handing = self.deliveries.handing(self.parts.owner, policy.delivery_lease_seconds)
        claim, result = await polls.arrive_answered(
            self.parts.store, report, asked, claims, policy, handing
        )
        self.deliveries.committed(result, self.parts.wakers)
        task = claim.task
        with tracing.span(
            "comet.poll",
            task.trace_context if task else None,
            started,
            task_id=task_id,
            upstream_task_id=upstream,
            state=answer.state,
        ) as span:
            self._told(result, answer, log, span)
        return claim  # as kept (pending): its verdict is said and counted by `_told`

    def _may_ask(self, task_id: str, gap: float) -> bool:
        """Whether a callback asks CometAPI now: no budget, no 429, not within `gap` here."""
        if self.lease.max_per_second is not None or time.monotonic() < self._held_until:
            return False
        if self._asked.get(task_id, gap) is not None:
            return False
        self._asked.window = max(self._asked.window, gap)  # kept as long as any gap asks
        self._asked.keep(task_id, True)
        return True

    async def _ask(
        self, kind: str | None, upstream_task_id: str, log: Log, span: tracing.Span | None
    ) -> tuple[Polled | None, Observation | None]:
        """CometAPI's answer and its observation, or None when asking failed."""
        started = time.monotonic()
        polled: Polled | None = None
        try:
            await self._held()
            polled = await self.comet.poll(kind, upstream_task_id)
        except UpstreamError as exc:
            if exc.upstream_status == 429:
                await self._hold(exc.retry_after)
            if span is not None:
                span.set(status=exc.upstream_status)
                span.failed(exc.message)
            self.parts.metrics.polls.labels("error").inc()
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            log.warning(
                "poll.failed",
                upstream_status=exc.upstream_status,
                reason=exc.message,
                elapsed_ms=elapsed_ms,
            )
            return None, None
        finally:
            self.parts.metrics.poll_seconds.observe(time.monotonic() - started)
        answer = polled.observation
        if answer is not None:
            answer, refused = sane_credits(answer)
            if refused:
                log.warning("poll.credits_refused", **refused)
        self.parts.metrics.polls.labels("not_exist" if answer is None else "observed").inc()
        if span is not None:
            span.set(state=answer.state if answer else "not_exist")
        return polled, answer

    def _report(
        self, log: Log, settled: Settled, answer: Observation | None, changed: str | None
    ) -> None:
        """Count a callback's verdict; a contradicted one is logged with both sides."""
        claim, verdict = settled.claim, settled.verdict
        self.parts.metrics.callbacks.labels(verdict).inc()
        line = log.warning if verdict == "contradicted" else log.info
        line(
            f"callback.{verdict}",
            event_id=claim.event_id,
            claimed_state=claim.state,
            claimed_outputs=list(claim.outputs),
            upstream_state=answer.state if answer else None,
            upstream_status=answer.upstream_status if answer else None,
            upstream_outputs=list(answer.outputs) if answer else None,
            state_changed_by=changed,
        )

    async def _fail_orphans(self) -> None:
        """A task whose send was cut off, with no callback since, is failed rather than left
        queued; not sent again, for CometAPI may have taken it."""
        store = self.parts.store
        for task_id in await polls.orphaned(store, time.time() - self.orphan_wait):
            try:
                recorded = await polls.fail_orphan(store, task_id, self.recording.subscribers)
            except Exception as exc:
                await set_aside(self.parts, "orphan_sweep", task_id, exc)
                continue
            self.parts.wakers.recorded(recorded)
            self.parts.log.warning("task_transactions.orphaned", task_id=task_id)

    async def _give_up(self, job: PollJob, age: float) -> None:
        """A task that never ends would be polled forever: declare it failed, once."""
        store, subscribers = self.parts.store, self.recording.subscribers
        recorded = await polls.give_up(store, job.task_id, age, subscribers)
        self.parts.wakers.recorded(recorded)
        self.parts.log.warning("poll.gave_up", task_id=job.task_id, age_seconds=round(age))
