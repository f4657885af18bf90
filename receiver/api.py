"""The service's own HTTP API: tasks and deliveries for the admin, health and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from receiver.http import BodyTooLarge, Json, error, is_admin, read_body
from receiver.parse import ParseError, load_json
from receiver.service import Service
from receiver.states import STATES
from receiver.submit import InvalidRequest, submit

# A base64 data URI of a 64 MB clip is about 86 MB.
_MAX_SUBMIT_BYTES = 100 * 1024 * 1024
_DELIVERY_STATES = ("pending", "succeeded", "dead")

Handler = Callable[[Request], Awaitable[Response]]


def admin(handler: Callable[[Request, Service], Awaitable[Response]]) -> Handler:
    @wraps(handler)
    async def guarded(request: Request) -> Response:
        service: Service = request.app.state.service
        if not is_admin(request, service.config.secrets.admin_token):
            response = error(401, "unauthorized", "missing or wrong admin token")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await handler(request, service)

    return guarded


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ValueError("limit must be a whole number from 1 to 1000")
    return int(raw)


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return value


@admin
async def create_task(request: Request, service: Service) -> Response:
    try:
        payload = load_json(await read_body(request, _MAX_SUBMIT_BYTES))
        key = request.headers.get("idempotency-key") or None
        if key is not None and len(key) > 255:
            raise InvalidRequest("Idempotency-Key must be at most 255 characters")
        result = await submit(service, payload, key)
    except BodyTooLarge:
        return error(413, "too_large", "request body is over 100 MiB")
    except ClientDisconnect:
        # Gone before its body was in: nothing was submitted, and nobody reads this answer.
        return error(400, "bad_request", "the client went away before its body was in")
    except ParseError as exc:
        return error(400, "bad_request", str(exc))
    except InvalidRequest as exc:
        return error(422, "invalid_request", str(exc))
    task = result.task
    service.metrics.submits.labels(task.kind, "error" if result.error else "accepted").inc()
    body = {
        "id": task.id,
        "upstream_task_id": task.upstream_task_id,
        "kind": task.kind,
        "state": task.state,
    }
    if result.callback_url:
        body["callback_url"] = result.callback_url
    if result.error is not None:
        status = 504 if result.error.timeout else 502
        return error(status, "upstream_error", f"CometAPI: {result.error.message}", task=body)
    return Json(body, status_code=202 if result.created else 200)


@admin
async def get_task(request: Request, service: Service) -> Response:
    task = await service.store.get_task(request.path_params["task_id"])
    if task is None:
        return error(404, "not_found", "no such task")
    events, deliveries = await service.store.task_history(task.id)
    return Json(
        {
            **task.summary(),
            "request": task.request,
            "events": [e.summary() for e in events],
            "deliveries": [d.summary() for d in deliveries],
        }
    )


@admin
async def list_tasks(request: Request, service: Service) -> Response:
    try:
        state = _choice(request, "state", STATES)
        limit = _limit(request)
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    before = request.query_params.get("before") or None
    tasks = await service.store.list_tasks(state, limit, before)
    return Json({"tasks": [t.summary() for t in tasks]})


@admin
async def list_deliveries(request: Request, service: Service) -> Response:
    try:
        state = _choice(request, "state", _DELIVERY_STATES)
        limit = _limit(request)
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    deliveries = await service.store.list_deliveries(
        state,
        request.query_params.get("downstream") or None,
        request.query_params.get("task_id") or None,
        limit,
    )
    return Json({"deliveries": [d.summary() for d in deliveries]})


@admin
async def replay_delivery(request: Request, service: Service) -> Response:
    count = await service.store.replay([request.path_params["delivery_id"]])
    if not count:
        return error(404, "not_found", "no such delivery")
    service.deliveries_ready()
    return Json({"replayed": count})


@admin
async def replay_dead_letters(request: Request, service: Service) -> Response:
    downstream = request.query_params.get("downstream")
    if not downstream:
        return error(400, "bad_request", "downstream query parameter is required")
    count = await service.store.replay_dead_letters(downstream)
    service.deliveries_ready()
    return Json({"replayed": count})


async def healthz(request: Request) -> Response:
    return Json({"ok": True})


async def readyz(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        await service.store.ping()
    except Exception as exc:
        service.log.warning("readyz.store_unreachable", error=type(exc).__name__)
        return error(503, "unavailable", "store unreachable")
    return Json({"ok": True})


async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        counts: dict[str, int] | None = await service.store.counts()
    except Exception:
        counts = None  # keep the last gauges: an outage must not look like an empty queue
    return Response(service.metrics.render(counts), media_type="text/plain; version=0.0.4")
