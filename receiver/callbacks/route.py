"""The inbound callback: verify the signed URL, then parse, then ask CometAPI, then persist.
The token is checked before the body is read, and the 200 goes out only after the event is
committed. CometAPI does not sign callbacks, so an accepted one is a claim, recorded with
CometAPI's answer when asked now, else kept alone to bring a poll forward.

The route is a bare ASGI app, not a Starlette endpoint: on the busiest path the Request and
Response objects and the per-route exception wrapper were a twentieth of a callback's work.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from receiver.config.sections import CallbackConfig
from receiver.kernel.errors import (
    BodyTooLarge,
    BodyTooSlow,
    NotAllowed,
    NotFound,
    ParseError,
    RelayError,
    StoreError,
)
from receiver.kernel.http.body import read_limited
from receiver.kernel.observability import tracing
from receiver.kernel.secrets.tokens import CallbackSigner, TokenRejected
from receiver.lifecycle.comet import parse_callback
from receiver.lifecycle.handoff import PollHandoff
from receiver.lifecycle.rules.polling import PollLease
from receiver.lifecycle.rules.task import PENDING
from receiver.lifecycle.transactions import polls
from receiver.lifecycle.transactions.observe import Report
from receiver.outbox.rules.delivery import Subscribers
from receiver.wiring.worker_parts import WorkerParts

PATH = "/callbacks/runway/{token}"


class Callback:
    """POST /callbacks/runway/{token}, over the parts given at start-up (receiver/app/asgi.py)."""

    def __init__(
        self,
        parts: WorkerParts,
        signer: CallbackSigner,
        handed: PollHandoff,
        subscribers: Subscribers,
        lease: PollLease,
        settings: CallbackConfig,
        body_timeout: float,
    ) -> None:
        self.parts = parts
        self.signer = signer
        self.handed = handed
        self.subscribers = subscribers
        self.claims = settings.claim_policy()
        self.lease = lease
        self.max_body_bytes = settings.max_body_bytes
        self.ask_within = settings.ask_within_seconds
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            content = await _handle(self, scope, receive)
        except ClientDisconnect:
            return  # the sender is gone before its body was in: nothing was stored
        finally:
            self.parts.metrics.callback_seconds.observe(time.perf_counter() - started)
        # A refusal is a RelayError, answered by the application's one handler.
        body = orjson.dumps(content)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, wanted: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return None


def _refused(route: Callback, reason: str, error: RelayError, **ids: Any) -> RelayError:
    """Count and log a refusal; the caller raises what this returns."""
    route.parts.metrics.callbacks.labels(f"rejected_{reason}").inc()
    route.parts.log.warning("callback.rejected", reason=reason, **ids)
    return error


async def _read(route: Callback, scope: Scope, receive: Receive) -> tuple[str, Report]:
    """The task the token names and the report its body makes; refused when either is wrong."""
    try:
        task_id = route.signer.verify(scope["path_params"]["token"])
    except TokenRejected as exc:
        raise _refused(route, exc.reason, exc) from None
    # Context goes into each call rather than bind(): binding costs on every request, and
    # at the usual levels only the rare refusals below are written at all.
    try:
        limit, timeout = route.max_body_bytes, route.body_timeout
        continues = (_header(scope, b"expect") or "").lower() == "100-continue"
        declared = _header(scope, b"content-length")
        body = await read_limited(receive, declared, limit, timeout, continues)
    except BodyTooLarge as exc:
        raise _refused(route, "too_large", exc, task_id=task_id) from None
    except BodyTooSlow as exc:
        raise _refused(route, "request_timeout", exc, task_id=task_id) from None
    try:
        _, obs = parse_callback(body)
    except ParseError as exc:
        raise _refused(route, "bad_body", exc, task_id=task_id, detail=str(exc)) from None
    dedupe_key = "callback:" + hashlib.sha256(body).hexdigest()
    return task_id, Report("callback", dedupe_key, obs, body.decode())


async def _handle(route: Callback, scope: Scope, receive: Receive) -> dict[str, Any]:
    started = time.time()
    task_id, report = await _read(route, scope, receive)
    obs, parts = report.obs, route.parts
    try:
        # CometAPI asked now: the claim, its answer and the deliveries in one transaction.
        handed, claims = route.handed, route.claims
        recorded = await handed.settle_now(task_id, report, claims, route.ask_within)
        settled_now = recorded is not None
        if recorded is None:  # not asked now, or no answer in time: the claim alone
            lease, wanted = handed.lease_for(route.lease), route.subscribers
            recorded = await polls.arrive(parts.store, report, task_id, wanted, claims, lease)
    except Exception:
        # Not committed: say so, so that the sender tries again rather than forgets.
        parts.metrics.callbacks.labels("store_unavailable").inc()
        parts.log.exception("callback.store_failed", task_id=task_id)
        raise StoreError("could not store the callback; try again") from None
    ids = dict(task_id=task_id, upstream_task_id=obs.upstream_task_id, event_id=recorded.event_id)
    if recorded.outcome == "unknown_task":
        raise _refused(route, "unknown_task", NotFound("no such task"), **ids)
    if recorded.outcome == "task_mismatch":
        error = NotAllowed("callback token was issued for another task")
        raise _refused(route, "task_mismatch", error, **ids)
    verdict = recorded.verdict
    task = recorded.task
    # Backdated to the request's start: the task's context is known once it is read.
    with tracing.span(
        "callback",
        task.trace_context if task else None,
        started,
        **ids,
        outcome=recorded.outcome,
        verdict=verdict,
        claimed_state=obs.state,
        state=task.state if task else None,
    ):
        if recorded.outcome in ("duplicate", "over_limit"):
            parts.metrics.callbacks.labels(recorded.outcome).inc()
        elif verdict not in (None, PENDING):
            parts.metrics.callbacks.labels(verdict).inc()  # judged at once: the task had ended
        if not settled_now:  # else the answer's commit woke what it gave work to
            parts.wakers.recorded(recorded)
        line = parts.log.warning if verdict == "contradicted" else parts.log.info
        line(
            "callback.received",
            **ids,
            outcome=recorded.outcome,
            verdict=verdict,
            claimed_state=obs.state,
            upstream_status=obs.upstream_status,
            task_state=task.state if task else None,
        )
    # A claim kept alone has its poll started now, in a task of the poller's.
    if recorded.poll is not None:
        route.handed.give(recorded.poll)
    # The answer says nothing about the task's state: the URL may be in the wrong hands.
    return {"ok": True, "task_id": task_id, "duplicate": recorded.outcome == "duplicate"}
