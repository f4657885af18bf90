"""Polling fallback: ask CometAPI about tasks whose callback has not come (or never will).

Reverse-format tasks are polled once `callback_grace_seconds` pass without a terminal
state, and at once when a callback comes: the callback is only a claim, and the poll's
answer is what changes the task and settles the claim (receiver/domain/corroborate.py).
Official-format tasks have no callback and are polled from the start. Intervals grow by
`backoff_factor` up to `max_interval_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from receiver.adapters.comet.client import Polled
from receiver.domain.observation import Observation, sane_credits
from receiver.errors import UpstreamError
from receiver.persist import DeliveryJob, PollJob, Settled
from receiver.pipeline.service import Service, Work


class Poller:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.config.settings.polling
        self._orphans_read = 0.0  # when cut-off submits were last looked for

    def _interval(self, attempts: int) -> float:
        s = self.settings
        return float(min(s.max_interval_seconds, s.interval_seconds * s.backoff_factor**attempts))

    async def run(self, stopping: asyncio.Event) -> None:
        handoff = self.service.polls
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
                job = await self.service.polls.take()
                poll = asyncio.create_task(self._poll_handed(job))
                running.add(poll)
                poll.add_done_callback(running.discard)
        finally:
            await asyncio.gather(*running, return_exceptions=True)

    async def _poll_handed(self, job: PollJob) -> None:
        try:
            await self.poll_one(job)
        except Exception:
            self.service.log.exception("poll.handed_failed", task_id=job.task_id)
        finally:
            self.service.polls.done()

    async def _run_claimed(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            jobs: list[PollJob] = []
            try:
                # Once a tick, not at every wake-up: each callback wakes the poller, and
                # an orphan waits minutes anyway.
                if time.monotonic() - self._orphans_read >= self.settings.tick_seconds:
                    self._orphans_read = time.monotonic()
                    await self._fail_orphans()
                jobs = await self.service.store.claim_polls(
                    self.service.owner, self.settings.lease_seconds, self.settings.batch_size
                )
                await asyncio.gather(*(self.poll_one(job) for job in jobs))
            except Exception:
                self.service.log.exception("poll.batch_failed")
            if len(jobs) < self.settings.batch_size and not stopping.is_set():
                # A callback wakes the poller early: it asks CometAPI about that task now.
                await self.service.wait_for_polls(self.settings.tick_seconds)

    async def poll_one(self, job: PollJob) -> None:
        service = self.service
        log = service.log.bind(task_id=job.task_id, upstream_task_id=job.upstream_task_id)
        age = time.time() - job.created_at
        started = time.monotonic()
        polled: Polled | None = None
        try:
            polled = await service.comet.poll(job.kind, job.upstream_task_id)
        except UpstreamError as exc:
            service.metrics.polls.labels("error").inc()
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            log.warning(
                "poll.failed",
                upstream_status=exc.upstream_status,
                reason=exc.message,
                elapsed_ms=elapsed_ms,
            )
        finally:
            service.metrics.poll_seconds.observe(time.monotonic() - started)
        answer = polled.observation if polled is not None else None
        if answer is not None:
            answer, refused = sane_credits(answer)
            if refused:
                log.warning("poll.credits_refused", **refused)
        if polled is not None:
            service.metrics.polls.labels("not_exist" if answer is None else "observed").inc()
        if (
            polled is not None
            and answer is None
            and age > self.settings.task_not_exist_grace_seconds
        ):
            log.warning("poll.task_not_exist", age_seconds=round(age, 1))
        gave_up = age > self.settings.give_up_after_seconds
        next_at = None if gave_up else time.time() + self._interval(job.poll_attempts)
        settings = service.config.settings
        reserved = service.deliveries.reserve()
        handed: list[DeliveryJob] = []
        try:
            result = await service.store.finish_poll(
                job.task_id,
                service.owner,
                answer,
                polled.raw if polled is not None else "",
                service.subscriptions,
                next_at,
                settings.callbacks.corroborate_seconds,
                settings.media.enabled,
                settings.upstream.resubmit_failed,
                (reserved.downstreams, settings.delivery.lease_seconds),
            )
            handed = result.handed
        finally:
            service.deliveries.hand_over(reserved, handed)
        if result.resubmitted:
            service.wake(Work.SUBMITS)
            log.warning(
                "task.resubmitted",
                failure_code=answer and answer.failure_code,
                reason=answer and answer.error,
            )
        recorded = result.recorded
        if recorded is not None and recorded.outcome == "applied":
            service.recorded(recorded, frozenset(job.delivery.id for job in handed))
            log.info(
                "poll.state_changed", state=answer and answer.state, event_id=recorded.event_id
            )
        for settled in result.settled:
            self._report(log, settled, answer)
        if gave_up:
            await self._give_up(job, age)

    def _report(self, log: Any, settled: Settled, answer: Observation | None) -> None:
        """Count a callback's verdict; a contradicted one is logged with both sides."""
        claim, verdict = settled.claim, settled.verdict
        self.service.metrics.callbacks.labels(verdict).inc()
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
        settings = self.service.config.settings
        wait = max(2 * settings.upstream.timeout_seconds, self.settings.callback_grace_seconds)
        for task_id in await self.service.store.orphaned_submissions(time.time() - wait):
            recorded = await self.service.store.fail_orphaned_submission(
                task_id, self.service.subscriptions
            )
            self.service.recorded(recorded)
            self.service.log.warning("submit.orphaned", task_id=task_id)

    async def _give_up(self, job: PollJob, age: float) -> None:
        """A task that never ends would be polled forever: declare it failed, once."""
        obs = Observation(
            state="failed", error=f"no terminal state from CometAPI after {age / 3600:.1f} h"
        )
        recorded = await self.service.store.record(
            job.task_id, "poll", "poll:gave_up", obs, "", self.service.subscriptions
        )
        self.service.recorded(recorded)
        self.service.log.warning("poll.gave_up", task_id=job.task_id, age_seconds=round(age))
