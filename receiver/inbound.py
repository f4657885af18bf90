"""The inbound callback: verify the signed URL, then parse, then persist, then wake fan-out.

Order matters: the token is checked before the body is read, and the 200 goes out only
after the event is committed. Every refusal is a 4xx with a reason and changes nothing.

The route is a bare ASGI app, not a Starlette endpoint: on the busiest path the Request and
Response objects and the per-route exception wrapper were a twentieth of a callback's
work. Anything unexpected still reaches the application's exception handlers.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from receiver.http import BodyTooLarge, error_body, read_limited
from receiver.parse import ParseError, parse_callback
from receiver.service import Service
from receiver.verify import TokenRejected

_Answer = tuple[int, dict[str, Any]]


class Callback:
    """POST /callbacks/runway/{token}."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service: Service = scope["app"].state.service
        started = time.perf_counter()
        try:
            status, content = await _handle(service, scope, receive)
        except ClientDisconnect:
            return  # the sender is gone before its body was in: nothing was stored
        body = orjson.dumps(content)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        service.metrics.callback_seconds.observe(time.perf_counter() - started)


def _content_length(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"content-length":
            return value.decode("latin-1")
    return None


async def _handle(service: Service, scope: Scope, receive: Receive) -> _Answer:
    metrics, log = service.metrics, service.log
    try:
        task_id = service.signer.verify(scope["path_params"]["token"])
    except TokenRejected as exc:
        metrics.callbacks.labels(f"rejected_{exc.reason}").inc()
        log.warning("callback.rejected", reason=exc.reason)
        return 403, error_body("forbidden", "callback token is invalid or expired")
    # Context goes into each call rather than bind(): binding costs on every request, and
    # at the usual levels only the rare refusals below are written at all.
    try:
        limit = service.config.settings.callbacks.max_body_bytes
        body = await read_limited(receive, _content_length(scope), limit)
    except BodyTooLarge:
        metrics.callbacks.labels("rejected_too_large").inc()
        log.warning("callback.rejected", task_id=task_id, reason="too_large")
        return 413, error_body("too_large", "callback body is over the size limit")
    try:
        _, obs = parse_callback(body)
    except ParseError as exc:
        metrics.callbacks.labels("rejected_bad_body").inc()
        log.warning("callback.rejected", task_id=task_id, reason="bad_body", detail=str(exc))
        return 400, error_body("bad_request", str(exc))
    dedupe_key = "callback:" + hashlib.sha256(body).hexdigest()
    try:
        recorded = await service.store.record(
            task_id, "callback", dedupe_key, obs, body.decode(), service.subscriptions
        )
    except Exception:
        # Not committed: say so, so that the sender tries again rather than forgets.
        metrics.callbacks.labels("store_unavailable").inc()
        log.exception("callback.store_failed", task_id=task_id)
        return 503, error_body("unavailable", "could not store the callback; try again")
    ids = {
        "task_id": task_id,
        "upstream_task_id": obs.upstream_task_id,
        "event_id": recorded.event_id,
    }
    if recorded.outcome == "unknown_task":
        metrics.callbacks.labels("rejected_unknown_task").inc()
        log.warning("callback.rejected", **ids, reason="unknown_task")
        return 404, error_body("not_found", "no such task")
    if recorded.outcome == "task_mismatch":
        metrics.callbacks.labels("rejected_task_mismatch").inc()
        log.warning("callback.rejected", **ids, reason="task_mismatch")
        return 403, error_body("forbidden", "callback token was issued for another task")
    metrics.callbacks.labels(recorded.outcome).inc()
    if recorded.delivery_ids:
        service.deliveries_ready()
    log.info(
        "callback.accepted",
        **ids,
        outcome=recorded.outcome,
        state=obs.state,
        upstream_status=obs.upstream_status,
        deliveries=len(recorded.delivery_ids),
    )
    task = recorded.task
    return 200, {
        "ok": True,
        "task_id": task_id,
        "state": task.state if task else None,
        "duplicate": recorded.outcome != "applied",
    }
