"""The submit worker: on every replica, claims due tasks under the concurrency cap and sends
each once; every send is kept in the task's submit history. A request goes out with its data
URIs read back from the store as the body goes out, so that no send holds a whole large URI.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from receiver.config.sections import UpstreamConfig
from receiver.kernel.errors import StoreError, UpstreamError, UpstreamTimeout
from receiver.kernel.observability import tracing
from receiver.kernel.observability.logs import Log
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import Store
from receiver.kernel.store.db import new_id
from receiver.lifecycle.comet import CometClient, StreamedBody, Submitted
from receiver.lifecycle.rules.queue import SubmitPolicy
from receiver.lifecycle.rules.records import SubmitAttempt, SubmitJob, Work
from receiver.lifecycle.rules.retries import Refusal, after_refusal
from receiver.lifecycle.rules.task import is_callback
from receiver.outbox.rules.delivery import Subscribers
from receiver.tasks import reads as task_reads
from receiver.tasks import transactions as task_transactions
from receiver.tasks.rules.inputs import (
    holds_references,
    json_pieces,
    json_string_part,
    next_batch,
)
from receiver.wiring.worker_parts import WorkerParts, set_aside

T = TypeVar("T")
# Sends in flight from one process. Few: the HTTP client's pool spends CPU on every call in
# proportion to its open connections, and CometAPI's task creation, not the sending, is
# what a queue waits for. Polls keep the rest of the client's connections.
IN_FLIGHT = 8
# The most of them one app's tasks take: a request CometAPI is slow to answer holds its own
# send only, and another app's task always finds a send free.
PER_APP = IN_FLIGHT // 2
JITTER = 0.2
# Recording what CometAPI answered is retried through a short store outage: a task it took
# and the relay did not record would be failed later as cut off.
_STORE_RETRIES = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(eq=False)
class Submitter:
    """Each part given at start-up (receiver/app/build.py); `first_poll`: how long after
    its send a task is first polled."""

    parts: WorkerParts
    comet: CometClient
    signer: CallbackSigner
    subscribers: Subscribers  # who hears of a task's `queued`, or its failure
    upstream: UpstreamConfig
    tick: float
    first_poll: float

    def __post_init__(self) -> None:
        u = self.upstream
        self.policy = SubmitPolicy(
            max_concurrent=u.max_concurrent_tasks or None,
            give_up_seconds=u.submit_give_up_seconds,
            initial_backoff=u.submit_retry_initial_seconds,
            max_backoff=u.submit_retry_max_seconds,
            jitter=JITTER,
            max_retry_after=u.max_retry_after_seconds,
        )
        self.timeout = u.timeout_seconds
        self._sending: dict[asyncio.Task[None], str] = {}  # each send in flight: its app

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and send until `stopping`; then let the sends in flight finish."""
        while not stopping.is_set():
            room = IN_FLIGHT - len(self._sending)
            jobs: list[SubmitJob] = []
            if room > 0:
                try:
                    jobs = await task_transactions.claim(
                        self.parts.store,
                        self.parts.owner,
                        self.policy.max_concurrent,
                        room,
                        PER_APP,
                        Counter(self._sending.values()),
                    )
                except Exception:
                    self.parts.log.exception("submit.claim_failed")
            for job in jobs:
                sending = asyncio.create_task(self.send(job), name=f"submit {job.task_id}")
                self._sending[sending] = job.app
                sending.add_done_callback(self._sent)
            if not jobs or len(jobs) < room:
                # Woken by a new task, a task that ended (room under the cap), a send that
                # finished (room in this process); else the next tick finds retries due.
                await self.parts.wakers.wait(Work.SUBMITS, self.tick)
        await asyncio.gather(*self._sending, return_exceptions=True)

    def _sent(self, sending: asyncio.Task[None]) -> None:
        self._sending.pop(sending, None)
        if not sending.cancelled() and sending.exception() is not None:
            self.parts.log.error("submit.crashed", error=repr(sending.exception()))
        self.parts.wakers.wake(Work.SUBMITS)

    async def send(self, job: SubmitJob) -> None:
        """`_send` in the task's trace, with whatever it raises kept to that task."""
        with tracing.span(
            "comet.submit",
            job.trace_context,
            task_id=job.task_id,
            kind=job.kind,
            model=job.request.get("model"),
            attempt=job.attempt,
        ) as span:
            try:
                await self._send(job, span)
            except Exception as exc:
                span.failed(f"set aside: {type(exc).__name__}")
                await set_aside(self.parts, "submit", job.task_id, exc)

    async def _send(self, job: SubmitJob, span: tracing.Span) -> None:
        log = self.parts.log.bind(task_id=job.task_id, kind=job.kind, attempt=job.attempt)
        fields = dict(job.request)
        if is_callback(job.kind):
            fields["callback_url"] = self.signer.url_for(job.task_id)
        started = time.time()
        try:
            submitted = await self._submitted(job, fields)
        except UpstreamError as exc:
            span.set(status=exc.upstream_status)
            span.failed(exc.message)
            await self._refused(job, exc, started, log)
            return
        span.set(status=submitted.status, upstream_task_id=submitted.upstream_task_id)
        # Every kind is asked first after the initial delay: CometAPI calls a callback-route
        # task back only when it ends, and the poller asks until it starts (`_next`).
        next_poll_at = time.time() + self.first_poll
        attempt = SubmitAttempt(
            new_id("sub"),
            job.task_id,
            job.attempt,
            started,
            time.time(),
            submitted.status,
            None,
            "accepted",
            None,
        )
        recorded = await self._stored(
            lambda: task_transactions.accepted(
                self.parts.store,
                job,
                self.parts.owner,
                task_transactions.Accepted(submitted.upstream_task_id, submitted.raw, next_poll_at),
                attempt,
                self.subscribers,
            ),
            log,
            upstream_task_id=submitted.upstream_task_id,
        )
        self.parts.metrics.submit_attempts.labels("accepted").inc()
        self.parts.metrics.submits.labels(job.kind, "accepted").inc()
        if recorded is not None:
            self.parts.wakers.recorded(recorded)
        log.info("task_transactions.accepted", upstream_task_id=submitted.upstream_task_id)

    async def _submitted(self, job: SubmitJob, fields: dict[str, Any]) -> Submitted:
        """CometAPI's answer to the task's body, built and sent within the upstream timeout
        as a whole: the sweep of sends cut off (after twice it) never takes one still going."""
        timeout = self.timeout
        built = False
        try:
            async with asyncio.timeout(timeout):
                try:
                    body = await outgoing_request(self.parts.store, job.task_id, fields)
                except StoreError as exc:
                    # Nothing left yet: sent again later, like a send CometAPI refused.
                    raise UpstreamError(f"the request could not be read: {exc.detail}") from None
                built = True
                return await self.comet.submit(job.kind, body)
        except TimeoutError:
            # Which side the time went to: the body's reading, or CometAPI's answer.
            where = "CometAPI did not answer in time" if built else "the request was not built"
            raise UpstreamTimeout(
                f"{where} within upstream.timeout_seconds ({timeout:g})"
            ) from None

    async def _refused(self, job: SubmitJob, exc: UpstreamError, started: float, log: Log) -> None:
        now = time.time()
        answer = Refusal(exc.upstream_status, exc.message, exc.retry_after)
        refusal = after_refusal(self.policy, job.attempt, job.queued_since, answer, now)
        attempt = SubmitAttempt(
            new_id("sub"),
            job.task_id,
            job.attempt,
            started,
            now,
            exc.upstream_status,
            exc.message,
            refusal.outcome,
            refusal.retry_at,
        )
        recorded = await self._stored(
            lambda: task_transactions.refused(
                self.parts.store,
                job,
                self.parts.owner,
                refusal,
                attempt,
                self.subscribers,
            ),
            log,
        )
        self.parts.metrics.submit_attempts.labels(refusal.outcome).inc()
        line = log.info if refusal.outcome == "retry" else log.warning
        line(
            f"submit.{'retry' if refusal.outcome == 'retry' else 'refused'}",
            upstream_status=exc.upstream_status,
            reason=exc.message,
            retry_at=refusal.retry_at,
            paused_until=refusal.pause_until,
        )
        if refusal.outcome == "failed":
            self.parts.metrics.submits.labels(job.kind, "refused").inc()
        if recorded is not None:
            self.parts.wakers.recorded(recorded)

    async def _stored(
        self, write: Callable[[], Awaitable[T]], log: Log, **context: Any
    ) -> T | None:
        """The write's result, tried through a short store outage; None (logged): never in."""
        for wait in (*_STORE_RETRIES, None):
            try:
                return await write()
            except StoreError as exc:
                if wait is None:
                    log.error("submit.unrecorded", reason=exc.detail, **context)
                    return None
                await asyncio.sleep(wait)
        return None


SEND_CHARS = 256 * 1024
HOLD_CHARS = 8 * 1024 * 1024  # URIs up to this in all: the body is built once, and held


async def outgoing_request(
    store: Store, task_id: str, fields: dict[str, Any]
) -> dict[str, Any] | StreamedBody:
    """`fields` as they go out: as they are when the task keeps no data URI, else streamed
    (past HOLD_CHARS read twice, for the length and to send: the store holds the URIs)."""
    if not holds_references(fields):
        return fields  # the common case: no read of the store, which is a thread's hop
    sizes = await task_reads.input_parts(store, task_id)
    if not sizes:
        return fields
    pieces = json_pieces(fields, sizes)

    async def chunks() -> AsyncIterator[bytes]:
        # Written in runs of at least SEND_CHARS: a write per small URI would cost the
        # client a call each (40,000 for 20,000 URIs).
        run = bytearray()
        async for piece in pieces_out():
            if run and len(run) + len(piece) > SEND_CHARS:
                yield bytes(run)
                run.clear()
            if len(piece) >= SEND_CHARS:
                yield piece  # a large URI's part: as it is, not copied again
            else:
                run += piece
        if run:
            yield bytes(run)

    async def pieces_out() -> AsyncIterator[bytes]:
        held: dict[str, str] = {}  # the batch of small URIs read last
        for index, piece in enumerate(pieces):
            if isinstance(piece, bytes):
                yield piece
                continue
            count = sizes[piece][0]
            if count == 1:
                if piece not in held:
                    held = await task_reads.input_wholes(
                        store, task_id, next_batch(pieces, index, sizes)
                    )
                yield json_string_part(held.get(piece, ""), first=True, last=True)
                continue
            for part in range(count):
                text = await task_reads.input_part(store, task_id, piece, part)
                yield json_string_part(text, first=part == 0, last=part == count - 1)

    if sum(chars for _, chars in sizes.values()) <= HOLD_CHARS:
        # Small enough to hold: read once, and whole before the send starts.
        whole = b"".join([chunk async for chunk in chunks()])

        async def held() -> AsyncIterator[bytes]:
            yield whole

        return StreamedBody(len(whole), held)
    length = 0
    async for chunk in chunks():
        length += len(chunk)
    return StreamedBody(length, chunks)
