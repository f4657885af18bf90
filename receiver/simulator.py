"""An in-memory CometAPI Runway simulator with fault injection (demo, tests, local runs).

Task state is derived from the time since creation, so polling needs no timers; only the
reverse-format ``video2video`` route spawns a background job, to POST its callback. Field
types drift on purpose (``code`` 200 or "success", times as ISO strings or epoch seconds)
because the real service does, and clients must parse tolerantly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Kind = Literal["video2video", "video_to_video", "image_to_video"]
Phase = Literal["queued", "running", "succeeded", "failed"]
Style = Literal["reverse", "official"]
Op = Literal["submit", "poll"]

_CDN = "https://cdn.sim.invalid/runway"
_REVERSE_STATUS: dict[Phase, str] = {
    "queued": "QUEUED",
    "running": "RUNNING",
    "succeeded": "SUCCESS",
    "failed": "FAILURE",
}
_FEED_STATUS: dict[Phase, str] = {
    "queued": "QUEUED",
    "running": "IN_PROGRESS",
    "succeeded": "SUCCESS",
    "failed": "FAILURE",
}
_RUNWAY_STATUS: dict[Phase, str] = {
    "queued": "PENDING",
    "running": "RUNNING",
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
}
_ACTION: dict[Kind, str] = {
    "video2video": "VIDEO_TO_VIDEO",
    "video_to_video": "VIDEO_TO_VIDEO",
    "image_to_video": "IMAGE_TO_VIDEO",
}
# (failure text, Runway failureCode) pairs a failed task picks from.
_FAILURES = [
    ("Internal error while rendering the video", "INTERNAL.BAD_OUTPUT.CODE01"),
    ("The source could not be decoded", "INPUT_PREPROCESSING.INTERNAL"),
    ("Content moderation rejected the prompt", "SAFETY.INPUT.TEXT"),
]
_RATIO = re.compile(r"\d+:\d+")


@dataclass
class Faults:
    """Fault knobs, all changeable at runtime through ``POST /_sim/faults``."""

    # Callbacks (reverse-format tasks only); drop/delay apply to the terminal callback.
    drop_rate: float = 0.0
    drop_next: int = 0
    delay_seconds: float = 0.0
    duplicate: int = 0
    reorder: bool = False
    corrupt_rate: float = 0.0
    progress_callbacks: bool = False
    # Task outcome, on top of prompts containing "FAIL".
    fail_rate: float = 0.0
    # Upstream answers; a *_status_count of None applies the status until it is cleared.
    submit_status: int | None = None
    submit_status_count: int | None = None
    submit_delay_seconds: float = 0.0
    submit_malformed: bool = False
    poll_status: int | None = None
    poll_status_count: int | None = None
    poll_delay_seconds: float = 0.0
    poll_malformed: bool = False


@dataclass
class SimulatorConfig:
    api_key: str | None = None  # None accepts any non-empty bearer key
    queued_seconds: float = 0.3
    running_seconds: float = 0.7
    not_exist_seconds: float = 0.5  # a younger task answers task_not_exist, as upstream does
    seed: int | None = None
    faults: Faults = field(default_factory=Faults)


def _merge_faults(base: Faults, updates: object) -> Faults:
    """Return ``base`` with ``updates`` applied, validating each value; raise ValueError."""
    if not isinstance(updates, dict):
        raise ValueError("faults must be a JSON object")
    defaults = {f.name: f.default for f in fields(Faults)}
    unknown = set(updates) - set(defaults)
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    clean: dict[str, Any] = {}
    for name, value in updates.items():
        # A field's default value says what kind of value it takes.
        default = defaults[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = _is_int(value) and value >= 0
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            ok = ok and (not name.endswith("_rate") or value <= 1)
            value = float(value) if ok else value
        elif name.endswith("_status"):
            ok = value is None or (_is_int(value) and 100 <= value <= 599)
        else:
            ok = value is None or (_is_int(value) and value >= 0)
        if not ok:
            raise ValueError(f"invalid value for {name}: {value!r}")
        clean[name] = value
    return replace(base, **clean)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but true/false is never a meaningful count or status.
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass
class SimTask:
    task_id: str
    kind: Kind
    prompt: str
    created_at: float  # wall clock, for the timestamps clients see
    created_mono: float  # monotonic, for phase arithmetic
    queued_seconds: float
    running_seconds: float
    failure: tuple[str, str] | None  # (reason, failureCode) when the task will fail
    throttled: bool  # official format shows THROTTLED instead of PENDING while queued
    callback_url: str | None = None
    polls: int = 0

    @property
    def started_at(self) -> float:
        return self.created_at + self.queued_seconds

    @property
    def finished_at(self) -> float:
        return self.started_at + self.running_seconds

    @property
    def outcome(self) -> Phase:
        return "failed" if self.failure else "succeeded"

    def elapsed(self) -> float:
        return time.monotonic() - self.created_mono

    def phase(self) -> Phase:
        elapsed = self.elapsed()
        if elapsed < self.queued_seconds:
            return "queued"
        if elapsed < self.queued_seconds + self.running_seconds:
            return "running"
        return self.outcome

    def progress(self, phase: Phase) -> float:
        if phase == "queued":
            return 0.0
        if phase != "running" or self.running_seconds <= 0:
            return 1.0
        return min(1.0, (self.elapsed() - self.queued_seconds) / self.running_seconds)

    def describe(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "kind": self.kind,
            "status": self.phase(),
            "outcome": self.outcome,
            "prompt": self.prompt,
            "callback_url": self.callback_url,
            "created_at": self.created_at,
            "polls": self.polls,
        }


def _new_stats() -> dict[str, int]:
    return dict.fromkeys(
        (
            "submits",
            "submit_faults",
            "polls",
            "poll_faults",
            "unauthorized",
            "tasks",
            "callbacks_sent",  # HTTP requests made (any outcome)
            "callbacks_ok",  # answered 2xx
            "callbacks_failed",  # answered non-2xx or transport error
            "callbacks_dropped",  # withheld on purpose by drop_rate / drop_next
        ),
        0,
    )


class Simulator:
    """All simulator state; reachable as ``app.state.sim``."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.faults = replace(config.faults)
        self.rng = random.Random(config.seed)
        self.tasks: dict[str, SimTask] = {}
        self.callbacks: list[dict[str, Any]] = []
        self.stats = _new_stats()
        self.client: httpx.AsyncClient | None = None  # set by the lifespan
        self._jobs: set[asyncio.Task[None]] = set()  # strong refs so jobs are not GC'd

    # --- control -------------------------------------------------------------------------

    def set_faults(self, updates: object) -> None:
        self.faults = _merge_faults(self.faults, updates)

    def reset(self) -> None:
        """Back to the configured faults, no tasks, empty logs, RNG reseeded."""
        for job in list(self._jobs):
            # Thread-safe, so tests may call reset() directly from their own thread.
            job.get_loop().call_soon_threadsafe(job.cancel)
        self.faults = replace(self.config.faults)
        self.rng = random.Random(self.config.seed)
        self.tasks = {}
        self.callbacks = []
        self.stats = _new_stats()

    async def cancel_jobs(self) -> None:
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    # --- requests ------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        return self.config.api_key is None or key == self.config.api_key

    async def upstream_fault(self, op: Op, style: Style) -> Response | None:
        """Apply the submit/poll faults: delay, then a forced status or a malformed body."""
        delay: float = getattr(self.faults, f"{op}_delay_seconds")
        if delay:
            await asyncio.sleep(delay)
        status = self._take_status(op)
        if status is not None:
            self.stats[f"{op}_faults"] += 1
            return _error(style, status, _reason(status))
        if getattr(self.faults, f"{op}_malformed"):
            self.stats[f"{op}_faults"] += 1
            if self.rng.random() < 0.5:
                return Response(b'{"code": 200, "msg": "succ', media_type="application/json")
            return Response(b"<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        return None

    def _take_status(self, op: Op) -> int | None:
        status: int | None = getattr(self.faults, f"{op}_status")
        count: int | None = getattr(self.faults, f"{op}_status_count")
        if status is None or count is None:
            return status
        # A counted status clears itself once used up, so GET /_sim/faults shows it gone.
        setattr(self.faults, f"{op}_status_count", count - 1 if count > 1 else None)
        if count <= 1:
            setattr(self.faults, f"{op}_status", None)
        return status if count >= 1 else None

    def create_task(self, kind: Kind, prompt: str, callback_url: str | None = None) -> SimTask:
        fails = "FAIL" in prompt or self.rng.random() < self.faults.fail_rate
        task = SimTask(
            task_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            kind=kind,
            prompt=prompt,
            created_at=time.time(),
            created_mono=time.monotonic(),
            queued_seconds=self.config.queued_seconds,
            running_seconds=self.config.running_seconds,
            failure=self.rng.choice(_FAILURES) if fails else None,
            throttled=self.rng.random() < 0.25,
            callback_url=callback_url,
        )
        self.tasks[task.task_id] = task
        self.stats["tasks"] += 1
        if callback_url is not None:
            job = asyncio.get_running_loop().create_task(self._deliver(task))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        return task

    def visible_task(self, task_id: object) -> SimTask | None:
        """The task, unless unknown or too young to be visible; counts the poll."""
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            return None
        task.polls += 1
        return task if task.elapsed() >= self.config.not_exist_seconds else None

    # --- bodies --------------------------------------------------------------------------

    def _code(self) -> int | str:
        codes: list[int | str] = [200, "success"]
        return self.rng.choice(codes)

    def _stamp(self, epoch: float) -> str | int:
        return _iso(epoch) if self.rng.random() < 0.5 else int(epoch)

    def envelope(self, task: SimTask, phase: Phase) -> dict[str, Any]:
        """The reverse-format envelope: the submit answer and every callback body."""
        updated = {"queued": task.created_at, "running": task.started_at}.get(
            phase, task.finished_at
        )
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "state": phase,
            "status": _REVERSE_STATUS[phase],
            "prompt": task.prompt,
            "prompt_en": task.prompt,
            "video_url": "",
            "last_frame": "",
            "msg": "",
            "create_time": self._stamp(task.created_at),
            "update_time": self._stamp(updated),
            "poster": "",
        }
        if phase == "succeeded":
            data["video_url"] = f"{_CDN}/{task.task_id}.mp4"
            data["poster"] = f"{_CDN}/{task.task_id}-poster.jpg"
            data["last_frame"] = f"{_CDN}/{task.task_id}-last.jpg"
        elif phase == "failed" and task.failure:
            data["msg"] = task.failure[0]
        return {
            "code": self._code(),
            "msg": "success",
            "data": data,
            "exec_time": round(self.rng.uniform(0.005, 0.2), 3),
        }

    def feed(self, task: SimTask) -> dict[str, Any]:
        phase = task.phase()
        inner: dict[str, Any] = {
            "id": task.task_id,
            "status": _RUNWAY_STATUS[phase],
            "createdAt": _iso(task.created_at),
        }
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "action": _ACTION[task.kind],
            "status": _FEED_STATUS[phase],
            "fail_reason": task.failure[0] if phase == "failed" and task.failure else "",
            "submit_time": int(task.created_at),
            "start_time": 0 if phase == "queued" else int(task.started_at),
            "finish_time": int(task.finished_at) if phase in ("succeeded", "failed") else 0,
            "progress": f"{int(task.progress(phase) * 100)}%",
            "data": inner,
        }
        if phase == "succeeded":
            data["video_url"] = f"{_CDN}/{task.task_id}.mp4"
            data["poster"] = f"{_CDN}/{task.task_id}-poster.jpg"
            inner["output"] = [data["video_url"]]
        return {"code": "success", "message": "", "data": data}

    def official(self, task: SimTask) -> dict[str, Any]:
        phase = task.phase()
        status = "THROTTLED" if phase == "queued" and task.throttled else _RUNWAY_STATUS[phase]
        body: dict[str, Any] = {
            "id": task.task_id,
            "status": status,
            "createdAt": _iso(task.created_at),
        }
        if phase == "running":
            body["progress"] = round(task.progress(phase), 2)
        elif phase == "succeeded":
            body["output"] = [f"{_CDN}/{task.task_id}.mp4"]
        elif phase == "failed" and task.failure:
            body["failure"], body["failureCode"] = task.failure
        return body

    # --- callbacks -----------------------------------------------------------------------

    async def _deliver(self, task: SimTask) -> None:
        """Sleep through the task's life, then POST its callback(s) with the current faults."""
        await _sleep_until(task.created_mono + task.queued_seconds)
        if self.faults.progress_callbacks:
            await self._send(task, _encode(self.envelope(task, "running")), "progress")
        await _sleep_until(task.created_mono + task.queued_seconds + task.running_seconds)
        faults = self.faults
        if faults.drop_next > 0 or self.rng.random() < faults.drop_rate:
            if faults.drop_next > 0:
                faults.drop_next -= 1
            self._log(task, "dropped", b"", None, None)
            return
        if faults.delay_seconds:
            await asyncio.sleep(faults.delay_seconds)
        body, kind = _encode(self.envelope(task, task.outcome)), "normal"
        if self.rng.random() < self.faults.corrupt_rate:
            body, kind = self._corrupt(body), "corrupt"
        await self._send(task, body, kind)
        for _ in range(self.faults.duplicate):
            await self._send(task, body, "duplicate")
        if self.faults.reorder:
            await self._send(task, _encode(self.envelope(task, "running")), "reordered")

    def _corrupt(self, body: bytes) -> bytes:
        if self.rng.random() < 0.5:
            return body[: self.rng.randrange(1, len(body) - 1)]  # truncated JSON
        return self.rng.randbytes(self.rng.randint(16, 256))

    async def _send(self, task: SimTask, body: bytes, kind: str) -> None:
        if self.tasks.get(task.task_id) is not task or task.callback_url is None:
            return  # reset() dropped this task; its job is being cancelled
        status: int | None = None
        error: str | None = None
        started = time.time()
        if self.client is None:
            error = "simulator lifespan is not running"
        else:
            try:
                response = await self.client.post(
                    task.callback_url,
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        self._log(task, kind, body, status, error, started)

    def _log(
        self,
        task: SimTask,
        kind: str,
        body: bytes,
        status: int | None,
        error: str | None,
        at: float | None = None,
    ) -> None:
        if self.tasks.get(task.task_id) is not task:
            return
        if kind == "dropped":
            self.stats["callbacks_dropped"] += 1
        else:
            self.stats["callbacks_sent"] += 1
            ok = status is not None and 200 <= status < 300
            self.stats["callbacks_ok" if ok else "callbacks_failed"] += 1
        self.callbacks.append(
            {
                "task_id": task.task_id,
                "kind": kind,
                "url": task.callback_url,
                "status": status,
                "error": error,
                "time": at if at is not None else time.time(),
                "body": body.decode("utf-8", errors="replace"),
            }
        )


async def _sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _reason(status: int) -> str:
    if status == 401:
        return "invalid api key"
    if status == 429:
        return "rate limit exceeded"
    if status >= 500:
        return "upstream exploded"
    return "simulated upstream error"


def _error(style: Style, status: int, reason: str) -> JSONResponse:
    """An error in each format's own shape (reverse 401s use a string code upstream)."""
    headers = {"Retry-After": "1"} if status == 429 else None
    body: dict[str, Any]
    if style == "official":
        body = {"error": reason}
    elif status == 401:
        body = {"code": "unauthorized", "msg": reason}
    else:
        body = {"code": status, "msg": reason}
    return JSONResponse(body, status_code=status, headers=headers)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except (ValueError, ClientDisconnect):  # a caller that gave up during a delay fault
        return None
    return body if isinstance(body, dict) else None


def _missing(body: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = body.get(key)
        if not isinstance(value, str) or not value.strip():
            return f"{key} is required"
    return None


def _unauthorized(sim: Simulator, request: Request, counter: str, style: Style) -> Response | None:
    """Count the call; then the 401 CometAPI gives for a wrong key, or None to go on."""
    sim.stats[counter] += 1
    if sim.authorized(request):
        return None
    sim.stats["unauthorized"] += 1
    return _error(style, 401, "invalid api key")


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


# --- reverse format ----------------------------------------------------------------------


def _bad_request(reason: str) -> JSONResponse:
    return JSONResponse({"code": 400, "msg": reason, "data": None}, status_code=400)


def _video2video_error(body: dict[str, Any]) -> str | None:
    if reason := _missing(body, ("callback_url", "video", "prompt", "model")):
        return reason
    if not body["callback_url"].startswith(("http://", "https://")):
        return "callback_url must be an http(s) URL"
    if body.get("options") is not None and not isinstance(body["options"], dict):
        return "options must be an object"
    return None


async def _video2video(request: Request) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "submits", "reverse")) is not None:
        return refused
    # Read the body first: like the real service, a slow answer still creates the task
    # even when the client gave up waiting.
    body = await _json_object(request)
    if (fault := await sim.upstream_fault("submit", "reverse")) is not None:
        return fault
    if body is None:
        return _bad_request("request body must be a JSON object")
    if reason := _video2video_error(body):
        return _bad_request(reason)
    task = sim.create_task("video2video", body["prompt"], body["callback_url"])
    return JSONResponse(sim.envelope(task, "queued"))


async def _feed(request: Request) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "polls", "reverse")) is not None:
        return refused
    if (fault := await sim.upstream_fault("poll", "reverse")) is not None:
        return fault
    body = await _json_object(request)
    if body is None or _missing(body, ("task_id",)):
        return _bad_request("task_id is required")
    task = sim.visible_task(body["task_id"])
    if task is None:
        return JSONResponse({"code": "task_not_exist", "message": "task_not_exist", "data": None})
    return JSONResponse(sim.feed(task))


# --- official format ---------------------------------------------------------------------


def _official_error(body: dict[str, Any], kind: Kind) -> str | None:
    source, max_prompt = ("videoUri", 1000) if kind == "video_to_video" else ("promptImage", 512)
    if reason := _missing(body, (source, "model")):
        return reason
    prompt = body.get("promptText", "")
    if not isinstance(prompt, str) or len(prompt) > max_prompt:
        return f"promptText must be a string of at most {max_prompt} characters"
    ratio = body.get("ratio")
    if ratio is not None and (not isinstance(ratio, str) or not _RATIO.fullmatch(ratio)):
        return "ratio must be colon-separated, e.g. 1280:720"
    return None


async def _official_submit(request: Request, kind: Kind) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "submits", "official")) is not None:
        return refused
    if not request.headers.get("x-runway-version"):
        return JSONResponse({"error": "X-Runway-Version header is required"}, status_code=400)
    body = await _json_object(request)
    if (fault := await sim.upstream_fault("submit", "official")) is not None:
        return fault
    if body is None:
        return JSONResponse({"error": "request body must be a JSON object"}, status_code=400)
    if reason := _official_error(body, kind):
        return JSONResponse({"error": reason}, status_code=400)
    task = sim.create_task(kind, body.get("promptText", ""))
    return JSONResponse({"id": task.task_id})


async def _video_to_video(request: Request) -> Response:
    return await _official_submit(request, "video_to_video")


async def _image_to_video(request: Request) -> Response:
    return await _official_submit(request, "image_to_video")


async def _get_task(request: Request) -> Response:
    sim = _sim(request)
    if (refused := _unauthorized(sim, request, "polls", "official")) is not None:
        return refused
    if (fault := await sim.upstream_fault("poll", "official")) is not None:
        return fault
    task = sim.visible_task(request.path_params["task_id"])
    if task is None:
        return JSONResponse({"error": "task_not_exist", "code": "task_not_exist"}, status_code=404)
    return JSONResponse(sim.official(task))


# --- control (no auth) -------------------------------------------------------------------


async def _faults(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        try:
            sim.set_faults(await _json_object(request))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(asdict(sim.faults))


async def _reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"ok": True})


async def _tasks(request: Request) -> Response:
    return JSONResponse([task.describe() for task in _sim(request).tasks.values()])


async def _callbacks(request: Request) -> Response:
    return JSONResponse(_sim(request).callbacks)


async def _stats(request: Request) -> Response:
    return JSONResponse(_sim(request).stats)


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
            Route("/runway/pro/video2video", _video2video, methods=["POST"]),
            Route("/runway/feed", _feed, methods=["POST"]),
            Route("/runwayml/v1/video_to_video", _video_to_video, methods=["POST"]),
            Route("/runwayml/v1/image_to_video", _image_to_video, methods=["POST"]),
            Route("/runwayml/v1/tasks/{task_id}", _get_task, methods=["GET"]),
            Route("/_sim/faults", _faults, methods=["GET", "POST"]),
            Route("/_sim/reset", _reset, methods=["POST"]),
            Route("/_sim/tasks", _tasks, methods=["GET"]),
            Route("/_sim/callbacks", _callbacks, methods=["GET"]),
            Route("/_sim/stats", _stats, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sim = sim
    return app


def run_simulator(port: int, host: str = "127.0.0.1", **config: Any) -> None:
    """Serve the simulator in the foreground with human-scale timings.

    ``config`` takes SimulatorConfig fields and Faults fields (as initial faults). A value of
    None means "default", so a CLI can pass its unset options straight through.
    """
    fault_names = {f.name for f in fields(Faults)}
    given = {key: value for key, value in config.items() if value is not None}
    settings: dict[str, Any] = {
        "queued_seconds": 5.0,
        "running_seconds": 20.0,
        "not_exist_seconds": 3.0,
    }
    settings.update({k: v for k, v in given.items() if k not in fault_names})
    initial = {k: v for k, v in given.items() if k in fault_names}
    settings["faults"] = _merge_faults(settings.get("faults", Faults()), initial)
    uvicorn.run(create_simulator_app(SimulatorConfig(**settings)), host=host, port=port)
