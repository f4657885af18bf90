"""The mirror worker: copies each finished render before its links expire.

A succeeded event with files waits, its deliveries `mirroring`, while the worker copies
the video and the poster into the media store (a local directory or an S3 bucket, see
`receiver.adapters.media.storage`). When every file is in, the event's
document gains `"media": {"status": "mirrored", "files": [...]}` (a signed relay URL,
`sha256`, `bytes`, `content_type` for each) and the deliveries go out. A link that has
expired is asked of CometAPI again (it gives fresh ones); other failures are retried with
backoff. After `media.wait_seconds`, or at once when trying again cannot help (too large,
not a video or image, a private address), the event goes out with its original links and
`"media": {"status": "failed", "reason": ...}`: a failed copy never holds delivery for ever.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from receiver.adapters.guard import resolver
from receiver.adapters.media.fetch import Fetched, FetchError, fetch
from receiver.adapters.media.storage import open_media_store
from receiver.errors import UpstreamError
from receiver.persist.mirrors import MirrorJob, sources_of
from receiver.pipeline.service import Service, Work

_BATCH = 8
_PRUNE_SECONDS = 3600.0


class Mirror:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.config.settings.media
        self.store = open_media_store(self.settings)
        self._pruned = 0.0

    async def run(self, stopping: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(
            resolver=resolver(self.settings.allow_private_networks), limit=_BATCH
        )
        timeout = aiohttp.ClientTimeout(total=self.settings.download_timeout_seconds)
        lease = self.settings.download_timeout_seconds * 2
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while not stopping.is_set():
                jobs: list[MirrorJob] = []
                try:
                    jobs = await self.service.store.claim_mirrors(self.service.owner, lease, _BATCH)
                    await asyncio.gather(*(self.mirror_one(session, job) for job in jobs))
                    await self._prune()
                except Exception:
                    self.service.log.exception("media.batch_failed")
                if len(jobs) < _BATCH and not stopping.is_set():
                    await self.service.wait_for_mirrors(self.settings.tick_seconds)

    async def mirror_one(self, session: aiohttp.ClientSession, job: MirrorJob) -> None:
        log, metrics = self.service.log, self.service.metrics
        files: list[tuple[str, Fetched]] = []
        try:
            for i, source in enumerate(job.sources):
                name = f"{job.task_id}/{source['role']}-{i}"
                got = await fetch(
                    session,
                    source["url"],
                    self.store,
                    name,
                    self.settings.max_bytes,
                    self.settings.allow_private_networks,
                )
                files.append((source["role"], got))
                metrics.media_files.labels("mirrored").inc()
                metrics.media_bytes.inc(got.bytes)
                metrics.media_stored.inc(got.bytes)
        except FetchError as exc:
            metrics.media_files.labels(exc.kind).inc()
            await self._failed(job, exc)
            return
        media = {
            "status": "mirrored",
            "files": [self._document(role, got) for role, got in files],
        }
        await self._finish(job, media)
        log.info("media.mirrored", task_id=job.task_id, files=len(files))

    def _document(self, role: str, got: Fetched) -> dict[str, Any]:
        return {
            "role": role,
            "source": got.source,
            "url": self.service.media_links.url(got.key),
            "sha256": got.sha256,
            "bytes": got.bytes,
            "content_type": got.content_type,
        }

    async def _failed(self, job: MirrorJob, exc: FetchError) -> None:
        waited = time.time() - job.started_at
        log = self.service.log
        if exc.final or waited >= self.settings.wait_seconds:
            log.warning("media.failed", task_id=job.task_id, reason=exc.reason)
            await self._finish(job, {"status": "failed", "reason": exc.reason})
            return
        fresh = await self._fresh_links(job) if exc.expired else None
        sources = fresh or job.sources
        delay = min(60.0, 2.0 ** min(job.attempts, 6))
        log.info(
            "media.retry",
            task_id=job.task_id,
            reason=exc.reason,
            in_seconds=delay,
            links_renewed=fresh is not None,
        )
        await self.service.store.retry_mirror(
            job.event_id, self.service.owner, time.time() + delay, exc.reason, sources
        )

    async def _fresh_links(self, job: MirrorJob) -> list[dict[str, str]] | None:
        """CometAPI's links are signed for a while; asking for the task again renews them."""
        if job.upstream_task_id is None:
            return None
        try:
            polled = await self.service.comet.poll(job.kind, job.upstream_task_id)
        except UpstreamError:
            return None
        obs = polled.observation
        if obs is None or not obs.outputs:
            return None
        return sources_of({"outputs": list(obs.outputs), "thumbnail": obs.thumbnail})

    async def _finish(self, job: MirrorJob, media: dict[str, Any]) -> None:
        released = await self.service.store.finish_mirror(job.event_id, self.service.owner, media)
        if released:
            self.service.wake(Work.DELIVERIES)

    async def _prune(self) -> None:
        if time.monotonic() - self._pruned < _PRUNE_SECONDS:
            return
        self._pruned = time.monotonic()
        pruned = await asyncio.to_thread(self.store.prune, self.settings.retention_days)
        self.service.metrics.media_stored.set(pruned.kept_bytes)
        if pruned.files:
            self.service.log.info("media.pruned", files=pruned.files, bytes=pruned.bytes)
