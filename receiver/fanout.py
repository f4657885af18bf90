"""Fan-out: deliver outbox rows to downstreams, with retries, backoff and a dead-letter state.

Semantics follow Svix and Convoy: at-least-once, one stable `webhook-id` per delivery
across retries, retry on network errors, timeouts, 408, 425, 429 and 5xx on a fixed
schedule with jitter (a `Retry-After` stretches the wait), stop at once on any other 4xx,
and dead-letter after the last scheduled attempt. Rows are leased, so a crashed worker's
rows are taken over when the lease runs out.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

from receiver import formats, sign
from receiver.config import Downstream
from receiver.persist import DeliveryJob
from receiver.service import Service

_RETRYABLE = {408, 425, 429}
_MAX_ERROR = 500
_MAX_SNIPPET = 200  # of a downstream's error answer, kept in last_error


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def env_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY / HTTPS_PROXY name for `url`, unless NO_PROXY exempts its host."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class Fanout:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.config.settings.delivery
        self.downstreams: dict[str, Downstream] = {d.name: d for d in service.config.downstreams}
        # One session per downstream, opened in run(): aiohttp wants a running loop.
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._proxies: dict[str, str | None] = {}
        self._in_flight: set[asyncio.Task[None]] = set()  # holding a slot
        self._recording: set[asyncio.Task[None]] = set()  # answered, outcome being stored
        # Refill once a quarter of the slots is free, not after every single attempt:
        # each claim is a store transaction, and one per delivery made claims the bottleneck.
        limit = self.settings.concurrency
        self._refill_at = limit - max(1, limit // 4)
        self._slots = asyncio.Event()

    def _open_sessions(self) -> None:
        # The upstream client's CA bundle, loaded once rather than per downstream.
        tls = httpx.create_ssl_context()
        for name in self.downstreams:
            self._sessions[name] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency, ssl=tls),
                headers={"User-Agent": "runway-relay", "Content-Type": "application/json"},
                auto_decompress=False,
            )
            # aiohttp's trust_env would read the environment and ~/.netrc on every request,
            # in a thread; the proxy for a downstream is settled once, here.
            self._proxies[name] = env_proxy(self.downstreams[name].url)

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and send until `stopping` is set; then let in-flight attempts finish."""
        log = self.service.log
        self._open_sessions()
        while not stopping.is_set():
            free = self.settings.concurrency - len(self._in_flight)
            jobs: list[DeliveryJob] = []
            if free > 0:
                try:
                    jobs = await self.service.store.claim_deliveries(
                        self.service.owner, self.settings.lease_seconds, free
                    )
                except Exception:
                    log.exception("fanout.claim_failed")
            for job in jobs:
                task = asyncio.create_task(self._attempt(job))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if not jobs or len(self._in_flight) >= self.settings.concurrency:
                await self._idle(stopping)
        await self._drain()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._recording.discard(task)
        self._free_slot(task)

    def _free_slot(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) <= self._refill_at:
            self._slots.set()

    async def _idle(self, stopping: asyncio.Event) -> None:
        """Sleep until new rows are committed, slots free up, a tick passes or we stop."""
        waiters: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.service.wait_for_deliveries(self.settings.tick_seconds)),
            asyncio.create_task(stopping.wait()),
        ]
        if len(self._in_flight) > self._refill_at:
            self._slots.clear()
            waiters.append(asyncio.create_task(self._slots.wait()))
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()

    async def _drain(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        if self._in_flight:
            self.service.log.info("fanout.draining", in_flight=len(self._in_flight))
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
        if self._recording:
            await asyncio.wait(set(self._recording))
        # Whatever is unfinished stays pending; the lifespan hands its lease back.
        for session in self._sessions.values():
            await session.close()

    async def _post(
        self, downstream: Downstream, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, float | None]:
        """Status, the start of the answer (never the whole of it), and any Retry-After."""
        session = self._sessions[downstream.name]
        async with session.post(
            downstream.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            proxy=self._proxies[downstream.name],
        ) as response:
            snippet = b""
            while len(snippet) < _MAX_SNIPPET:
                chunk = await response.content.read(_MAX_SNIPPET - len(snippet))
                if not chunk:
                    break
                snippet += chunk
            wait = retry_after(response.headers.get("retry-after"), time.time())
            return response.status, snippet.decode("utf-8", "replace"), wait

    async def _attempt(self, job: DeliveryJob) -> None:
        delivery = job.delivery
        attempt = delivery.attempts + 1
        # Passed to the one line this attempt writes, not bound: bind() would build a logger
        # on every attempt, and below `info` a success writes no line at all.
        ids = {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "task_id": delivery.task_id,
            "upstream_task_id": job.payload.get("upstream_task_id"),
            "downstream": delivery.downstream,
            "attempt": attempt,
        }
        log = self.service.log
        downstream = self.downstreams.get(delivery.downstream)
        status: int | None = None
        wait: float | None = None
        started = time.monotonic()
        if downstream is None:
            outcome, error = "dead", "downstream is no longer configured"
        else:
            body = formats.render(downstream.format, job.payload)
            headers = sign.headers(downstream.secret, delivery.id, int(time.time()), body)
            try:
                # The whole attempt is bounded: a downstream trickling its answer byte by
                # byte would otherwise outlive the timeout, and then the lease.
                async with asyncio.timeout(downstream.timeout):
                    status, snippet, wait = await self._post(downstream, body, headers)
                if 200 <= status < 300:
                    outcome, error = "succeeded", None
                else:
                    retryable = status in _RETRYABLE or status >= 500
                    outcome = "retry" if retryable else "dead"
                    error = f"HTTP {status}: {snippet}"
            except TimeoutError:
                outcome, error = "retry", f"timed out after {downstream.timeout:g}s"
            except aiohttp.ClientError as exc:
                outcome, error = "retry", f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
        elapsed = time.monotonic() - started
        schedule = self.settings.retry_schedule
        if outcome == "retry" and attempt > len(schedule):
            outcome, error = "dead", f"gave up after {attempt} attempts; last: {error}"
        next_at = time.time()
        if outcome == "retry":
            delay = schedule[attempt - 1] * random.uniform(1 - self.settings.jitter, 1)
            if wait is not None:
                delay = max(delay, min(wait, self.settings.max_retry_after_seconds))
            next_at += delay
        state = "pending" if outcome == "retry" else outcome
        self.service.metrics.deliveries.labels(delivery.downstream, outcome).inc()
        self.service.metrics.delivery_seconds.labels(delivery.downstream).observe(elapsed)
        # The answer is in: the slot goes to the next delivery while the outcome waits for
        # its commit (this row's lease keeps it from being claimed again meanwhile).
        if (me := asyncio.current_task()) is not None:
            self._recording.add(me)
            self._free_slot(me)
        try:
            kept = await self.service.store.finish_attempt(
                delivery.id, self.service.owner, state, next_at, status, error
            )
        except Exception:
            log.exception("delivery.record_failed", **ids)
            return
        event = {"succeeded": "delivery.succeeded", "retry": "delivery.retry"}
        log_line = log.info if outcome == "succeeded" else log.warning
        log_line(
            event.get(outcome, "delivery.dead_lettered"),
            **ids,
            status=status,
            error=error,
            seconds=round(elapsed, 4),
            next_attempt_in=round(next_at - time.time(), 1) if outcome == "retry" else None,
            lease_kept=kept,
        )
