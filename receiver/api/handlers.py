"""The service's own HTTP API: tasks and deliveries for the admin, health and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response

from receiver.domain.states import STATES
from receiver.errors import (
    BadRequest,
    Forbidden,
    InvalidRequest,
    NotFound,
    StoreError,
    Unauthorized,
)
from receiver.http import Json, is_admin
from receiver.inbound.body import read_body
from receiver.media.store import MediaStore, MediaStoreError, Redirect, byte_range, open_media_store
from receiver.persist import TaskFilter
from receiver.service import Service
from receiver.upstream.parse import load_json
from receiver.upstream.submit import cancel, submit

# A base64 data URI of a 64 MB clip is about 86 MB.
_MAX_SUBMIT_BYTES = 100 * 1024 * 1024
_DELIVERY_STATES = ("pending", "succeeded", "dead", "held")

Handler = Callable[[Request], Awaitable[Response]]


def admin(handler: Callable[[Request, Service], Awaitable[Response]]) -> Handler:
    @wraps(handler)
    async def guarded(request: Request) -> Response:
        service: Service = request.app.state.service
        if not is_admin(request, service.config.secrets.admin_token):
            raise Unauthorized("missing or wrong admin token")
        return await handler(request, service)

    return guarded


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise BadRequest("limit must be a whole number from 1 to 1000")
    return int(raw)


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    return value


@admin
async def create_task(request: Request, service: Service) -> Response:
    key = request.headers.get("idempotency-key") or None
    if key is not None and len(key) > 255:
        raise InvalidRequest("Idempotency-Key must be at most 255 characters")
    try:
        timeout = service.config.settings.server.body_timeout_seconds
        payload = load_json(await read_body(request, _MAX_SUBMIT_BYTES, timeout))
    except ClientDisconnect:
        # Gone before its body was in: nothing was submitted, and nobody reads this answer.
        raise BadRequest("the client went away before its body was in") from None
    result = await submit(service, payload, key)
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
        # The task is on record either way: the answer says which one it is.
        error = result.error
        raise type(error)(
            f"CometAPI: {error.message}", error.upstream_status, error.timeout, task=body
        )
    return Json(body, status_code=202 if result.created else 200)


@admin
async def get_task(request: Request, service: Service) -> Response:
    task = await service.store.get_task(request.path_params["task_id"])
    if task is None:
        raise NotFound("no such task")
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
async def cancel_task(request: Request, service: Service) -> Response:
    task = await cancel(service, request.path_params["task_id"])
    return Json(task.summary())


@admin
async def list_tasks(request: Request, service: Service) -> Response:
    state = _choice(request, "state", STATES)
    limit = _limit(request)
    before = request.query_params.get("before") or None
    tasks = await service.store.list_tasks(TaskFilter(state=state, limit=limit, before=before))
    return Json({"tasks": [t.summary() for t in tasks]})


@admin
async def list_deliveries(request: Request, service: Service) -> Response:
    state = _choice(request, "state", _DELIVERY_STATES)
    limit = _limit(request)
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
        raise NotFound("no such delivery")
    service.deliveries_ready()
    return Json({"replayed": count})


@admin
async def replay_dead_letters(request: Request, service: Service) -> Response:
    downstream = request.query_params.get("downstream")
    if not downstream:
        raise BadRequest("downstream query parameter is required")
    count = await service.store.replay_dead_letters(downstream)
    service.deliveries_ready()
    return Json({"replayed": count})


def _downstream(request: Request, service: Service) -> str:
    name: str = request.path_params["name"]
    if name not in service.subscriptions:
        raise NotFound(f"no downstream named {name!r} in the configuration")
    return name


def _since(raw: str | None) -> float | None:
    """`recover_since`: epoch seconds or an ISO 8601 time."""
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("recover_since must be epoch seconds or an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@admin
async def list_downstreams(request: Request, service: Service) -> Response:
    health = await service.store.downstream_health(list(service.subscriptions))
    return Json({"downstreams": [h.summary() for h in health]})


@admin
async def disable_downstream(request: Request, service: Service) -> Response:
    name = _downstream(request, service)
    changed = await service.store.disable_downstream(
        name, "disabled by an operator", service.subscriptions
    )
    service.log.warning("downstream.disabled", downstream=name, reason="operator")
    return Json({"downstream": name, "disabled": True, "changed": changed})


@admin
async def enable_downstream(request: Request, service: Service) -> Response:
    name = _downstream(request, service)
    since = _since(request.query_params.get("recover_since"))
    queued = await service.store.enable_downstream(name, since)
    service.deliveries_ready()
    service.log.info("downstream.enabled", downstream=name, recover_since=since, queued=queued)
    return Json({"downstream": name, "disabled": False, "queued": queued})


async def media(request: Request) -> Response:
    """A mirrored file, at its signed URL: Content-Type, ETag, Content-Length and Range; for
    S3 with `presign`, a redirect (307) to a presigned URL living as long as the token."""
    import time
    from pathlib import Path

    from itsdangerous import BadData
    from itsdangerous.encoding import base64_decode, bytes_to_int
    from starlette.responses import RedirectResponse, StreamingResponse

    service: Service = request.app.state.service
    token = request.path_params["token"]
    key = service.media_links.key(token)
    if key is None:
        raise Forbidden("the media link is not valid or has expired")
    store: MediaStore | None = getattr(request.app.state, "media_store", None)
    if store is None:
        store = request.app.state.media_store = open_media_store(service.config.settings.media)
    ttl = service.config.settings.media.url_ttl_seconds
    try:
        signed_at = bytes_to_int(base64_decode(token.rsplit(".", 2)[-2]))
        valid_for = float(min(ttl, signed_at + ttl - time.time()))
    except (ValueError, IndexError, BadData):
        valid_for = float(ttl)
    try:
        found = await store.locate(key, valid_for)
    except ValueError:
        raise Forbidden("the media link is not valid") from None
    except MediaStoreError as exc:
        service.log.warning("media.store_unavailable", reason=str(exc))
        raise StoreError("the media store cannot be reached") from None
    if found is None:
        raise NotFound("the file is no longer kept")
    if isinstance(found, Path):
        return FileResponse(found)
    if isinstance(found, Redirect):
        return RedirectResponse(found.url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": found.content_type,
        "ETag": found.etag,
    }
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != found.etag:
        wanted = None  # the copy changed since the client's first part: send it whole
    try:
        span = byte_range(wanted, found.size)
    except ValueError:
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{found.size}"}
        )
    start, end = span or (0, found.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(found.read(start, end), status_code=status, headers=headers)


async def healthz(request: Request) -> Response:
    return Json({"ok": True})


async def readyz(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        await service.store.ping()
    except StoreError as exc:
        service.log.warning("readyz.store_unavailable", reason=exc.detail)
        raise  # its one line says why: unreachable, a full disk, a failed write
    except Exception as exc:
        service.log.warning("readyz.store_unreachable", error=type(exc).__name__)
        raise StoreError("store unreachable") from None
    return Json({"ok": True})


async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        counts: dict[str, float] | None = await service.store.counts()
    except Exception:
        counts = None  # keep the last gauges: an outage must not look like an empty queue
    return Response(service.metrics.render(counts), media_type="text/plain; version=0.0.4")
