"""The mirror worker: copies each finished render before its links expire.

A succeeded event's deliveries wait (`mirroring`) while its files are copied into the
media store; then its document gains `media` (mirrored, or failed with a reason) and they
go out. An expired link is asked of CometAPI again; other failures are retried until
`media.wait_seconds`, or given up at once when trying again cannot help: a failed copy
never holds delivery for ever. Up to eight copies run at once, one app's in half the slots
at most, so an app whose links trickle or hang never holds another app's copies.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from receiver.config.sections import MediaConfig
from receiver.kernel.errors import MirrorError, UpstreamError
from receiver.kernel.net.guard import resolver
from receiver.kernel.observability import tracing
from receiver.kernel.secrets.tokens import MediaLinks
from receiver.lifecycle.comet import CometClient
from receiver.lifecycle.rows.mirrors import MirrorJob
from receiver.lifecycle.rules.records import Work
from receiver.lifecycle.rules.retries import (
    COPIES_TURNED_OFF,
    copy_attempt_seconds,
    copy_overdue_reason,
    copy_retry_in,
)
from receiver.lifecycle.rules.routing import sources_of
from receiver.lifecycle.rules.task import output_of
from receiver.media import transactions as copies
from receiver.media.storage.fetch import Fetched, fetch
from receiver.media.storage.local import open_media_store
from receiver.media.transactions import GivenUp
from receiver.wiring.worker_parts import WorkerParts

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened

_SLOTS = 8
# The most one app's copies take of the slots: the other half is always there for others.
_PER_APP = _SLOTS // 2
_GIVE_UP_BATCH = 100
_PRUNE_SECONDS = 3600.0


async def give_up_mirrors(parts: WorkerParts) -> int:
    """With copying turned off, no copy still to be made ever will be: their deliveries go
    out now, without them. Returns how many copies were given up."""
    count = 0
    while True:
        given_up = await copies.give_up_all(parts.store, COPIES_TURNED_OFF, _GIVE_UP_BATCH)
        _note_given_up(parts, given_up)
        count += len(given_up)
        if len(given_up) < _GIVE_UP_BATCH:
            return count


def _note_given_up(parts: WorkerParts, given_up: list[GivenUp]) -> None:
    for job in given_up:
        parts.log.warning("media.failed", task_id=job.task_id, reason=job.reason)
    if given_up:
        parts.wakers.wake(Work.DELIVERIES)


@dataclass(eq=False)
class Mirror:
    """The copies' worker, its parts given at start-up (receiver/app/build.py); `grace`:
    how long copies in flight are given at a stop."""

    worker: WorkerParts
    comet: CometClient
    links: MediaLinks
    settings: MediaConfig
    grace: float

    def __post_init__(self) -> None:
        self.store = open_media_store(self.settings)  # the copies' store
        self._in_flight: dict[asyncio.Task[None], MirrorJob] = {}
        self._freed = asyncio.Event()  # a copy ended: its slot can take another job
        self._renewed = 0.0
        self._pruned = 0.0
        self._pruning: asyncio.Task[None] | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Copy until `stopping` is set, then give in-flight copies the shutdown grace."""
        import aiohttp  # here, not at import: a relay starts without it

        connector = aiohttp.TCPConnector(
            resolver=resolver(self.settings.allow_private_sources), limit=_SLOTS
        )
        # No session-wide timeout: each attempt has a deadline of its own (`mirror_one`).
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                while not stopping.is_set():
                    try:
                        await self._round(session)
                    except Exception:
                        self.worker.log.exception("media.round_failed")
                    await self._idle(stopping)
            finally:
                # Whatever ended the loop, the copies end before their session closes: one
                # started again after a failure opens a new session, and none on the old.
                await self._drain()

    async def _round(self, session: aiohttp.ClientSession) -> None:
        store, settings = self.worker.store, self.settings
        self._freed.clear()  # before claiming: a copy ending from now on starts a new round
        await self._keep_leases()
        overdue = await copies.give_up_overdue(
            store,
            settings.wait_seconds,
            lambda last: copy_overdue_reason(settings.wait_seconds, last),
            _GIVE_UP_BATCH,
        )
        _note_given_up(self.worker, overdue)
        free = _SLOTS - len(self._in_flight)
        if free > 0:
            held = Counter(job.app for job in self._in_flight.values())
            for job in await copies.claim(
                store, self.worker.owner, settings.mirror_lease_seconds, free, _PER_APP, held
            ):
                copy = asyncio.create_task(
                    self._mirror_one(session, job), name=f"copy {job.task_id}"
                )
                self._in_flight[copy] = job
                copy.add_done_callback(self._ended)
        self._prune_hourly()

    def _ended(self, copy: asyncio.Task[None]) -> None:
        self._in_flight.pop(copy, None)
        self._freed.set()

    async def _idle(self, stopping: asyncio.Event) -> None:
        """Until a finished render is committed, a copy ends, a tick passes or we stop."""
        tick = min(self.settings.mirror_scan_seconds, self.settings.mirror_lease_seconds / 3)
        waiters: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.worker.wakers.wait(Work.MIRRORS, tick)),
            asyncio.create_task(stopping.wait()),
            asyncio.create_task(self._freed.wait()),
        ]
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()

    async def _keep_leases(self) -> None:
        """Renew the leases of the copies in flight a third of a lease before they run out: a
        lease outlives a dead worker by `mirror_lease_seconds` at most."""
        lease = self.settings.mirror_lease_seconds
        if not self._in_flight or time.monotonic() - self._renewed < lease / 3:
            return
        self._renewed = time.monotonic()
        ids = [job.event_id for job in self._in_flight.values()]
        await copies.renew(self.worker.store, self.worker.owner, ids, lease)

    async def _drain(self) -> None:
        """Copies in flight get `delivery.shutdown_grace_seconds`; the rest are cut (their
        leases are given back with the others', so the next start copies them at once)."""
        if self._pruning is not None:
            self._pruning.cancel()
        if not self._in_flight:
            return
        grace = self.grace
        self.worker.log.info("media.draining", copies=len(self._in_flight))
        _, unfinished = await asyncio.wait(set(self._in_flight), timeout=grace)
        for copy in unfinished:
            copy.cancel()
        if unfinished:
            await asyncio.wait(unfinished)

    async def _mirror_one(self, session: aiohttp.ClientSession, job: MirrorJob) -> None:
        try:
            with tracing.span(
                "media.copy",
                job.trace_context,
                task_id=job.task_id,
                kind=job.kind,
                upstream_task_id=job.upstream_task_id,
                attempt=job.attempts + 1,
                files=len(job.sources),
            ) as span:
                await self.mirror_one(session, job, span)
        except Exception:
            # Not a failed download (that is a MirrorError): the store, or a bug. The lease is
            # no longer renewed, so the copy is tried again once it runs out.
            self.worker.log.exception("media.mirror_crashed", task_id=job.task_id)
            self.worker.metrics.item_failures.labels("mirror").inc()

    async def mirror_one(
        self, session: aiohttp.ClientSession, job: MirrorJob, span: tracing.Span
    ) -> None:
        log, metrics, settings = self.worker.log, self.worker.metrics, self.settings
        seconds = copy_attempt_seconds(
            job.started_at, time.time(), settings.wait_seconds, settings.download_timeout_seconds
        )
        files: list[tuple[str, Fetched]] = []
        try:
            try:
                async with asyncio.timeout(max(seconds, 0.0)):
                    for i, source in enumerate(job.sources):
                        name = f"{job.task_id}/{source['role']}-{i}"
                        got = await fetch(
                            session,
                            source["url"],
                            self.store,
                            name,
                            settings.max_bytes,
                            settings.allow_private_sources,
                        )
                        files.append((source["role"], got))
                        metrics.media_files.labels("mirrored").inc()
                        metrics.media_bytes.inc(got.bytes)
                        metrics.media_stored.inc(got.bytes)
            except TimeoutError:
                raise self._too_slow(job, seconds) from None
        except MirrorError as exc:
            metrics.media_files.labels(exc.kind).inc()
            span.failed(exc.reason)
            await self._failed(job, exc)
            return
        media = {
            "status": "mirrored",
            "files": [self._document(role, got) for role, got in files],
        }
        await self._finish(job, media)
        log.info("media.mirrored", task_id=job.task_id, files=len(files))

    def _too_slow(self, job: MirrorJob, seconds: float) -> MirrorError:
        settings = self.settings
        if seconds < settings.download_timeout_seconds:
            # Cut where the deliveries stop waiting: they go out now, without the copy.
            reason = copy_overdue_reason(settings.wait_seconds, job.last_error)
            return MirrorError(reason, "timeout", final=True)
        reason = f"the download took longer than {seconds:g} s (media.download_timeout_seconds)"
        return MirrorError(reason, "timeout")

    def _document(self, role: str, got: Fetched) -> dict[str, Any]:
        return {
            "role": role,
            "source": got.source,
            "url": self.links.url(got.key),
            "sha256": got.sha256,
            "bytes": got.bytes,
            "content_type": got.content_type,
        }

    async def _failed(self, job: MirrorJob, exc: MirrorError) -> None:
        log, wait = self.worker.log, self.settings.wait_seconds
        delay = copy_retry_in(job.attempts, job.started_at, time.time(), wait, exc.final)
        if delay is None:
            log.warning("media.failed", task_id=job.task_id, reason=exc.reason)
            await self._finish(job, {"status": "failed", "reason": exc.reason})
            return
        fresh = await self._fresh_links(job) if exc.expired else None
        sources = fresh or job.sources
        log.info(
            "media.retry",
            task_id=job.task_id,
            reason=exc.reason,
            in_seconds=delay,
            links_renewed=fresh is not None,
        )
        await copies.retry(
            self.worker.store,
            job.event_id,
            self.worker.owner,
            time.time() + delay,
            exc.reason,
            sources,
        )

    async def _fresh_links(self, job: MirrorJob) -> list[dict[str, str]] | None:
        """CometAPI's links are signed for a while; asking for the task again renews them."""
        if job.upstream_task_id is None:
            return None
        try:
            polled = await self.comet.poll(job.kind, job.upstream_task_id)
        except UpstreamError:
            return None
        obs = polled.observation
        if obs is None or not obs.outputs:
            return None
        return sources_of(
            {
                "outputs": list(obs.outputs),
                "thumbnail": obs.thumbnail,
                "output_type": output_of(job.kind, list(obs.outputs)),
            }
        )

    async def _finish(self, job: MirrorJob, media: dict[str, Any]) -> None:
        released = await copies.finish(self.worker.store, job.event_id, self.worker.owner, media)
        if released:
            self.worker.wakers.wake(Work.DELIVERIES)

    def _prune_hourly(self) -> None:
        """Beside the copies, not in the claiming loop: a large bucket takes a while to list."""
        if time.monotonic() - self._pruned < _PRUNE_SECONDS:
            return
        self._pruned = time.monotonic()
        self._pruning = asyncio.create_task(self._prune(), name="media prune")

    async def _prune(self) -> None:
        try:
            pruned = await asyncio.to_thread(self.store.prune, self.settings.retention_days)
        except Exception:
            self.worker.log.exception("media.prune_failed")
            return
        self.worker.metrics.media_stored.set(pruned.kept_bytes)
        if pruned.files:
            self.worker.log.info("media.pruned", files=pruned.files, bytes=pruned.bytes)
