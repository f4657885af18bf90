"""Polling fallback: ask CometAPI about tasks whose callback has not come (or never will).

Reverse-format tasks are polled once `callback_grace_seconds` pass without a terminal
state; official-format tasks have no callback and are polled from the start. Intervals
grow by `backoff_factor` up to `max_interval_seconds`. A terminal state found here is
recorded exactly like a callback, so a callback arriving later is a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from receiver.parse import Observation
from receiver.persist import PollJob
from receiver.service import Service
from receiver.upstream import UpstreamError


class Poller:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.config.settings.polling

    def _interval(self, attempts: int) -> float:
        s = self.settings
        return float(min(s.max_interval_seconds, s.interval_seconds * s.backoff_factor**attempts))

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            jobs: list[PollJob] = []
            try:
                await self._fail_orphans()
                jobs = await self.service.store.claim_polls(
                    self.service.owner, self.settings.lease_seconds, self.settings.batch_size
                )
                await asyncio.gather(*(self.poll_one(job) for job in jobs))
            except Exception:
                self.service.log.exception("poll.batch_failed")
            if len(jobs) < self.settings.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.settings.tick_seconds)

    async def poll_one(self, job: PollJob) -> None:
        service = self.service
        log = service.log.bind(task_id=job.task_id, upstream_task_id=job.upstream_task_id)
        age = time.time() - job.created_at
        next_at: float | None = time.time() + self._interval(job.poll_attempts)
        started = time.monotonic()
        try:
            polled = await service.comet.poll(job.kind, job.upstream_task_id)
        except UpstreamError as exc:
            service.metrics.polls.labels("error").inc()
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            log.warning(
                "poll.failed",
                upstream_status=exc.status,
                reason=exc.message,
                elapsed_ms=elapsed_ms,
            )
            polled = None
        finally:
            service.metrics.poll_seconds.observe(time.monotonic() - started)
        if polled is not None and polled.observation is None:
            outcome = "not_exist"
            service.metrics.polls.labels(outcome).inc()
            if age > self.settings.task_not_exist_grace_seconds:
                log.warning("poll.task_not_exist", age_seconds=round(age, 1))
        elif polled is not None and polled.observation is not None:
            service.metrics.polls.labels("observed").inc()
            obs = polled.observation
            key = f"poll:{obs.state}:{obs.upstream_status}"
            recorded = await service.store.record(
                job.task_id, "poll", key, obs, polled.raw, service.subscriptions
            )
            if recorded.outcome == "applied":
                service.deliveries_ready()
                log.info("poll.state_changed", state=obs.state, event_id=recorded.event_id)
        if age > self.settings.give_up_after_seconds:
            await self._give_up(job, age)
            next_at = None
        await service.store.reschedule_poll(job.task_id, service.owner, next_at)

    async def _fail_orphans(self) -> None:
        """A task with no upstream id can't be polled: if its submit was cut off (crash or
        kill mid-call) and no callback came either, say so instead of leaving it queued."""
        settings = self.service.config.settings
        wait = max(2 * settings.upstream.timeout_seconds, self.settings.callback_grace_seconds)
        for task_id in await self.service.store.orphaned_submissions(time.time() - wait):
            obs = Observation(
                state="failed",
                error="submission interrupted: the relay stopped before CometAPI answered",
            )
            await self.service.store.record(
                task_id, "submit", "submit:orphaned", obs, "", self.service.subscriptions
            )
            self.service.deliveries_ready()
            self.service.log.warning("submit.orphaned", task_id=task_id)

    async def _give_up(self, job: PollJob, age: float) -> None:
        """A task that never ends would be polled forever: declare it failed, once."""
        obs = Observation(
            state="failed", error=f"no terminal state from CometAPI after {age / 3600:.1f} h"
        )
        recorded = await self.service.store.record(
            job.task_id, "poll", "poll:gave_up", obs, "", self.service.subscriptions
        )
        if recorded.outcome == "applied":
            self.service.deliveries_ready()
        self.service.log.warning("poll.gave_up", task_id=job.task_id, age_seconds=round(age))
