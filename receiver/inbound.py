"""The inbound callback: verify the signed URL, then parse, then persist, then wake fan-out.

Order matters: the token is checked before the body is read, and the 200 goes out only
after the event is committed. Every refusal is a 4xx with a reason and changes nothing.
"""

from __future__ import annotations

import hashlib
import time

from starlette.requests import Request
from starlette.responses import Response

from receiver.http import BodyTooLarge, Json, error, read_body
from receiver.parse import ParseError, parse_callback
from receiver.service import Service
from receiver.verify import TokenRejected


async def callback(request: Request) -> Response:
    service: Service = request.app.state.service
    started = time.perf_counter()
    response = await _handle(service, request)
    service.metrics.callback_seconds.observe(time.perf_counter() - started)
    return response


async def _handle(service: Service, request: Request) -> Response:
    metrics, log = service.metrics, service.log
    try:
        task_id = service.signer.verify(request.path_params["token"])
    except TokenRejected as exc:
        metrics.callbacks.labels(f"rejected_{exc.reason}").inc()
        log.warning("callback.rejected", reason=exc.reason)
        return error(403, "forbidden", "callback token is invalid or expired")
    # Context goes into each call rather than bind(): binding costs on every request, and
    # at the usual levels only the rare refusals below are written at all.
    try:
        body = await read_body(request, service.config.settings.callbacks.max_body_bytes)
    except BodyTooLarge:
        metrics.callbacks.labels("rejected_too_large").inc()
        log.warning("callback.rejected", task_id=task_id, reason="too_large")
        return error(413, "too_large", "callback body is over the size limit")
    try:
        _, obs = parse_callback(body)
    except ParseError as exc:
        metrics.callbacks.labels("rejected_bad_body").inc()
        log.warning("callback.rejected", task_id=task_id, reason="bad_body", detail=str(exc))
        return error(400, "bad_request", str(exc))
    dedupe_key = "callback:" + hashlib.sha256(body).hexdigest()
    try:
        recorded = await service.store.record(
            task_id, "callback", dedupe_key, obs, body.decode(), service.subscriptions
        )
    except Exception:
        # Not committed: say so, so that the sender tries again rather than forgets.
        metrics.callbacks.labels("store_unavailable").inc()
        log.exception("callback.store_failed", task_id=task_id)
        return error(503, "unavailable", "could not store the callback; try again")
    ids = {
        "task_id": task_id,
        "upstream_task_id": obs.upstream_task_id,
        "event_id": recorded.event_id,
    }
    if recorded.outcome == "unknown_task":
        metrics.callbacks.labels("rejected_unknown_task").inc()
        log.warning("callback.rejected", **ids, reason="unknown_task")
        return error(404, "not_found", "no such task")
    if recorded.outcome == "task_mismatch":
        metrics.callbacks.labels("rejected_task_mismatch").inc()
        log.warning("callback.rejected", **ids, reason="task_mismatch")
        return error(403, "forbidden", "callback token was issued for another task")
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
    return Json(
        {
            "ok": True,
            "task_id": task_id,
            "state": task.state if task else None,
            "duplicate": recorded.outcome != "applied",
        }
    )
