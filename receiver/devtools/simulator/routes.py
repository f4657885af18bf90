"""The simulator's HTTP face: CometAPI's reverse and official Runway routes, and /_sim/*
control routes (no auth) that set faults, forge callbacks and show tasks, logs and stats."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from receiver.devtools.simulator.faults import error_response, key_refused, take_status
from receiver.devtools.simulator.files import served
from receiver.devtools.simulator.limits import (
    callback_kind_error,
    image_to_video_error,
    missing,
    official_kind_error,
    video2video_error,
    video_to_video_error,
)
from receiver.devtools.simulator.model import SERVED_THROUGH, Kind, Style
from receiver.devtools.simulator.state import Simulator, SimulatorConfig
from receiver.lifecycle.rules.task import KINDS, route_of
from receiver.runway_api.models import model_error

Check = Callable[[dict[str, Any]], str | None]
# Routes whose published limits the simulator holds; every other route needs its `model`.
_OFFICIAL_CHECKS: dict[Kind, Check] = {
    "video_to_video": video_to_video_error,
    "image_to_video": image_to_video_error,
}
_REVERSE_CHECKS: dict[Kind, Check] = {"video2video": video2video_error}


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except (ValueError, ClientDisconnect):  # a caller that gave up during a delay fault
        return None
    return body if isinstance(body, dict) else None


def _unauthorized(sim: Simulator, request: Request, counter: str, style: Style) -> Response | None:
    """Count the call; then the 401 CometAPI gives for a wrong key, or None to go on."""
    sim.stats[counter] += 1
    if sim.authorized(request):
        return None
    sim.stats["unauthorized"] += 1
    return error_response(style, 401, key_refused(request.headers.get("authorization", "")))


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


# --- reverse format ----------------------------------------------------------------------


def _bad_request(reason: str) -> JSONResponse:
    return JSONResponse({"code": 400, "msg": reason, "data": None}, status_code=400)


async def _reverse_submit(request: Request, kind: Kind) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "submits", "reverse")) is not None:
        return refused
    # Read the body first: like the real service, a slow answer still creates the task
    # even when the client gave up waiting.
    body = await _json_object(request)
    if (fault := await sim.upstream_fault("submit", "reverse", request)) is not None:
        return fault
    if body is None:
        return _bad_request("request body must be a JSON object")
    if (unserved := _unserved(sim, kind)) is not None:
        return unserved
    if reason := _REVERSE_CHECKS.get(kind, callback_kind_error)(body):
        return _bad_request(reason)
    prompt = body.get("prompt")
    prompt = prompt if isinstance(prompt, str) else ""
    task = sim.create_task(kind, prompt, str(request.base_url), body["callback_url"], body)
    return JSONResponse(sim.envelope(task, "queued"))


def _unserved(sim: Simulator, kind: Kind) -> Response | None:
    """CometAPI's answer for a route it does not serve (the `unserved_routes` fault)."""
    if kind not in {k.strip() for k in sim.faults.unserved_routes.split(",")}:
        return None
    return JSONResponse(
        {"error": f"Invalid URL (POST {route_of(kind)})", "code": "not_found"},
        status_code=404,
    )


def _answer(sim: Simulator, body: dict[str, Any]) -> JSONResponse:
    if sim.faults.wrapped_answers:  # as some of CometAPI's pages show an official answer
        return JSONResponse({"code": "success", "message": "", "data": body})
    return JSONResponse(body)


async def _feed(request: Request) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "polls", "reverse")) is not None:
        return refused
    if (fault := await sim.upstream_fault("poll", "reverse", request)) is not None:
        return fault
    body = await _json_object(request)
    if body is None or missing(body, ("task_id",)):
        return _bad_request("task_id is required")
    task = sim.visible_task(body["task_id"])
    if task is None:
        return JSONResponse({"code": "task_not_exist", "message": "task_not_exist", "data": None})
    answer = sim.feed(task)
    if sim.faults.feed_point:
        answer["data"]["point"] = sim.faults.feed_point
    return JSONResponse(answer)


# --- official format ---------------------------------------------------------------------


async def _official_submit(request: Request, kind: Kind) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "submits", "official")) is not None:
        return refused
    if not request.headers.get("x-runway-version"):
        return JSONResponse({"error": "X-Runway-Version header is required"}, status_code=400)
    body = await _json_object(request)
    if (fault := await sim.upstream_fault("submit", "official", request)) is not None:
        return fault
    if body is None:
        return JSONResponse({"error": "request body must be a JSON object"}, status_code=400)
    if (unserved := _unserved(sim, kind)) is not None:
        return unserved
    # The route's published limits, then its models (Runway's SDK's and CometAPI's names);
    # a route served through has no limits here, its model (if any) is the table's to check.
    check = _OFFICIAL_CHECKS.get(kind, official_kind_error)
    limits = None if kind in SERVED_THROUGH else check(body)
    if reason := limits or model_error(kind, body.get("model")):
        return JSONResponse({"error": reason}, status_code=400)
    prompt = body.get("promptText")
    prompt = prompt if isinstance(prompt, str) else ""
    task = sim.create_task(kind, prompt, str(request.base_url), body=body)
    return _answer(sim, sim.created(task))


def _creates(route: str, kind: Kind, reverse: bool) -> Route:
    submit = _reverse_submit if reverse else _official_submit

    async def create(request: Request) -> Response:
        return await submit(request, kind)

    return Route(route, create, methods=["POST"])


async def _get_task(request: Request) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "polls", "official")) is not None:
        return refused
    if (fault := await sim.upstream_fault("poll", "official", request)) is not None:
        return fault
    task = sim.visible_task(request.path_params["task_id"])
    if task is None:
        return _task_not_exist()
    return _answer(sim, sim.official(task))


async def _delete_task(request: Request) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "cancels", "official")) is not None:
        return refused
    if not sim.cancel(request.path_params["task_id"]):
        return _task_not_exist()
    if sim.faults.cancel_delay_seconds:
        await asyncio.sleep(sim.faults.cancel_delay_seconds)
    return Response(status_code=204)  # no body, as Runway answers


def _task_not_exist() -> JSONResponse:
    return JSONResponse({"error": "task_not_exist", "code": "task_not_exist"}, status_code=404)


# --- control (no auth) -------------------------------------------------------------------


async def _faults(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        try:
            sim.set_faults(await _json_object(request))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(asdict(sim.faults))


async def _forge(request: Request) -> Response:
    body = await _json_object(request)
    if body is None:
        return JSONResponse({"error": "request body must be a JSON object"}, status_code=400)
    try:
        status, error = await _sim(request).forge(body.get("task_id"), body.get("body"))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    answer: dict[str, Any] = {"status": status}
    if error is not None:
        answer["error"] = error
    return JSONResponse(answer)


async def _reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"ok": True})


async def _tasks(request: Request) -> Response:
    return JSONResponse([task.describe() for task in _sim(request).tasks.values()])


async def _callbacks(request: Request) -> Response:
    return JSONResponse(_sim(request).callbacks)


async def _stats(request: Request) -> Response:
    return JSONResponse(_sim(request).stats)


async def _cdn(request: Request) -> Response:
    """A task's render or poster, as the provider's CDN serves them (files.py);
    the `cdn_status` fault forces an answer, e.g. 403 for a link that has expired, and
    `cdn_trickle_seconds` (or "TRICKLE" in the task's prompt) makes the file trickle."""
    sim = _sim(request)
    sim.stats["cdn_requests"] += 1
    name: str = request.path_params["name"]
    forced = take_status(sim.faults, "cdn")
    if forced is not None:
        return Response(status_code=forced)
    task = sim.tasks.get(name[:36])  # a task id is a UUID
    if task is None:
        return Response(status_code=404)
    if sim.faults.cdn_html:
        return Response(b"<html><body>Access denied</body></html>", media_type="text/html")
    body, media_type = served(name)
    spread = _TRICKLE_SECONDS if "TRICKLE" in task.prompt else sim.faults.cdn_trickle_seconds
    if spread > 0:
        return StreamingResponse(
            _trickle(sim.stats, body, spread),
            media_type=media_type,
            headers={"content-length": str(len(body))},
        )
    return Response(body, media_type=media_type)


_TRICKLE_SECONDS = 3600.0
_TRICKLE_PIECE = 256


async def _trickle(stats: dict[str, int], body: bytes, spread: float) -> AsyncIterator[bytes]:
    """`body` in small pieces, the first at once and the last after `spread` seconds, as a
    congested or throttled CDN sends it; counted in `cdn_trickling` while it lasts."""
    pieces = [body[i : i + _TRICKLE_PIECE] for i in range(0, len(body), _TRICKLE_PIECE)]
    stats["cdn_trickling"] += 1
    try:
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(spread / (len(pieces) - 1))
            yield piece
    finally:
        stats["cdn_trickling"] -= 1


def create_simulator_app(config: SimulatorConfig | None = None) -> Starlette:
    sim = Simulator(config or SimulatorConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # trust_env=False: callbacks go exactly where asked, never via an env-configured proxy.
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            sim.client = client
            try:
                yield
            finally:
                await sim.cancel_jobs()
                sim.client = None

    app = Starlette(
        routes=[
            *(_creates(k.route, k.name, k.form == "reverse") for k in KINDS.values()),
            *(_creates(route_of(kind), kind, False) for kind in SERVED_THROUGH),
            Route("/runway/feed", _feed, methods=["POST"]),
            Route("/runwayml/v1/tasks/{task_id}", _get_task, methods=["GET"]),
            Route("/runwayml/v1/tasks/{task_id}", _delete_task, methods=["DELETE"]),
            Route("/_sim/faults", _faults, methods=["GET", "POST"]),
            Route("/_sim/forge", _forge, methods=["POST"]),
            Route("/_sim/reset", _reset, methods=["POST"]),
            Route("/_sim/tasks", _tasks, methods=["GET"]),
            Route("/_sim/callbacks", _callbacks, methods=["GET"]),
            Route("/_sim/stats", _stats, methods=["GET"]),
            Route("/cdn/{name}", _cdn, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sim = sim
    return app


def run_simulator(port: int, host: str = "127.0.0.1", api_key: str | None = None) -> None:
    """Serve the simulator in the foreground with human-scale timings."""
    config = SimulatorConfig(
        api_key=api_key, queued_seconds=5.0, running_seconds=20.0, not_exist_seconds=3.0
    )
    uvicorn.run(create_simulator_app(config), host=host, port=port)
