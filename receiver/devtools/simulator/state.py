"""The simulator's state: its tasks, faults, logs and stats, and the callbacks it POSTs.

Only reverse-format ``video2video`` tasks spawn a background job, to POST their callback.
That callback is CometAPI's documented flat object by default (``callback_shape`` switches
it to the code/msg/data envelope).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from receiver.devtools.simulator import model
from receiver.devtools.simulator.faults import Faults, error_response, forced_answer, merge_faults
from receiver.devtools.simulator.files import suffix_for
from receiver.devtools.simulator.model import (
    TERMINAL,
    CallbackPhase,
    Kind,
    Op,
    Phase,
    SimTask,
    Style,
    failure_of,
    timing_of,
)
from receiver.lifecycle.rules.task import output_of


@dataclass
class SimulatorConfig:
    api_key: str | None = None  # None accepts any non-empty bearer key
    queued_seconds: float = 0.3
    running_seconds: float = 0.7
    not_exist_seconds: float = 0.5  # a younger task answers task_not_exist, as upstream does
    seed: int | None = None
    faults: Faults = field(default_factory=Faults)
    # Where its answers say the renders are. None: its own address, where it serves them.
    # Set it only where nothing fetches them (a test that needs https links in messages).
    files_url: str | None = None


# The counters of /_sim/stats.
_STATS = (
    "submits",
    "submit_faults",
    "polls",
    "poll_faults",
    "unauthorized",
    "cancels",  # DELETE /runwayml/v1/tasks/{id} calls
    "tasks",
    "callbacks_sent",  # HTTP requests made (any outcome)
    "callbacks_ok",  # answered 2xx
    "callbacks_failed",  # answered non-2xx or transport error
    "callbacks_dropped",  # withheld on purpose by drop_rate / drop_next
    "cdn_requests",  # files fetched from /cdn
    "cdn_trickling",  # files trickling out of /cdn now (not a count of all)
    "running_max",  # the most tasks unfinished at once
)


class Simulator:
    """All simulator state; reachable as ``app.state.sim``."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.client: httpx.AsyncClient | None = None  # set by the lifespan
        self._jobs: set[asyncio.Task[None]] = set()  # strong refs so jobs are not GC'd
        self.reset()

    # --- control -------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the configured faults, no tasks, empty logs, RNG reseeded."""
        for job in list(self._jobs):
            # Thread-safe, so tests may call reset() directly from their own thread.
            job.get_loop().call_soon_threadsafe(job.cancel)
        self.faults = replace(self.config.faults)
        self.rng = random.Random(self.config.seed)
        self.tasks: dict[str, SimTask] = {}
        self.callbacks: list[dict[str, Any]] = []
        self.stats = dict.fromkeys(_STATS, 0)

    def set_faults(self, updates: object) -> None:
        self.faults = merge_faults(self.faults, updates)

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

    async def upstream_fault(self, op: Op, style: Style, request: Request) -> Response | None:
        """Apply the submit/poll faults: delay, then a forced status or a malformed body."""
        delay: float = getattr(self.faults, f"{op}_delay_seconds")
        if delay:
            await asyncio.sleep(delay)
        authorization = request.headers.get("authorization", "")
        answer = forced_answer(self.faults, self.rng, op, style, authorization)
        limit = self.faults.concurrency_limit
        if answer is None and op == "submit" and limit is not None and self.running() >= limit:
            reason = f"concurrency limit of {limit} tasks reached"
            answer = error_response(style, 429, reason, self.faults.retry_after_seconds)
        if answer is not None:
            self.stats[f"{op}_faults"] += 1
        return answer

    def running(self) -> int:
        """Tasks not yet ended (queued or running): what an account's limit counts."""
        return sum(task.phase() not in TERMINAL for task in self.tasks.values())

    def create_task(
        self,
        kind: Kind,
        prompt: str,
        own_url: str,
        callback_url: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> SimTask:
        """A new task, keeping the `body` it was created with; its files are served at
        `own_url`/cdn/ (files.py), so that whoever reached the simulator can fetch them, and
        no name is looked up elsewhere."""
        files_url = self.config.files_url or f"{own_url.rstrip('/')}/cdn"
        timing = timing_of(prompt, self.config.queued_seconds, self.config.running_seconds)
        fails = timing.fails_midway or "FAIL" in prompt or self.rng.random() < self.faults.fail_rate
        bits = self.rng.getrandbits(128)
        task = SimTask(
            task_id=str(uuid.UUID(int=bits, version=4)),
            kind=kind,
            prompt=prompt,
            created_at=time.time(),
            created_mono=time.monotonic(),
            queued_seconds=timing.queued_seconds,
            running_seconds=timing.running_seconds,
            curve=timing.curve,
            shows_progress=timing.shows_progress,
            planned_seconds=timing.planned_seconds,
            failure=failure_of(prompt, self.rng) if fails else None,
            throttled=self.rng.random() < 0.25,
            # From the id's bits, not a draw of its own: seeded runs keep their sequences.
            point=10 * (16 + bits % 49),
            cdn=files_url,
            suffix=suffix_for(model.SERVED_THROUGH.get(kind) or output_of(kind), prompt),
            callback_url=callback_url,
            body=body or {},
        )
        self.tasks[task.task_id] = task
        self.stats["tasks"] += 1
        # The most at once is reached when one starts: counting here sees every peak.
        self.stats["running_max"] = max(self.stats["running_max"], self.running())
        if callback_url is not None:
            job = asyncio.get_running_loop().create_task(self._deliver(task))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)
        return task

    def cancel(self, task_id: str) -> bool:
        """Runway's DELETE: cancel an unfinished task, forget a finished one; False if unknown."""
        task = self.tasks.get(task_id)
        if task is None:
            return False
        if task.phase() in TERMINAL:
            del self.tasks[task_id]
        else:
            task.cancelled_at, task.cancelled_mono = time.time(), time.monotonic()
        return True

    def visible_task(self, task_id: object) -> SimTask | None:
        """The task, unless unknown or too young to be visible; counts the poll."""
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            return None
        task.polls += 1
        task.polled_at.append(time.time())
        # The real age, not elapsed(): that one stops when the task is cancelled.
        young = time.monotonic() - task.created_mono < self.config.not_exist_seconds
        return None if young else task

    # --- bodies --------------------------------------------------------------------------
    # Bodies that need only the task are model's functions, methods here for sim holders.

    flat = staticmethod(model.flat)
    forged = staticmethod(model.forged)
    feed = staticmethod(model.feed)
    official = staticmethod(model.official)
    created = staticmethod(model.created)

    def envelope(self, task: SimTask, phase: Phase) -> dict[str, Any]:
        """The reverse-format envelope: the submit answer, and callbacks when so configured."""
        return model.envelope(task, phase, self.rng)

    def callback_body(self, task: SimTask, phase: CallbackPhase) -> dict[str, Any]:
        if self.faults.callback_shape == "envelope":
            return self.envelope(task, phase)
        return self.flat(task, phase)

    # --- callbacks -----------------------------------------------------------------------

    async def _deliver(self, task: SimTask) -> None:
        """Sleep through the task's life, then POST its callback(s) with the current faults."""
        await _sleep_until(task.created_mono + task.queued_seconds)
        if self.faults.progress_callbacks:
            await self._send(task, self._callback(task, "running"), "progress")
        await _sleep_until(task.created_mono + task.queued_seconds + task.running_seconds)
        if task.cancelled:
            return  # a cancelled task ends without a callback
        faults = self.faults
        if faults.drop_next > 0 or self.rng.random() < faults.drop_rate:
            if faults.drop_next > 0:
                faults.drop_next -= 1
            self._log(task, "dropped", b"", None, None)
            return
        if faults.delay_seconds:
            await asyncio.sleep(faults.delay_seconds)
        body, kind = self._callback(task, task.outcome), "normal"
        if self.rng.random() < self.faults.corrupt_rate:
            body, kind = self._corrupt(body), "corrupt"
        await self._send(task, body, kind)
        for _ in range(self.faults.duplicate):
            await self._send(task, body, "duplicate")
        if self.faults.reorder:
            await self._send(task, self._callback(task, "running"), "reordered")

    def _callback(self, task: SimTask, phase: CallbackPhase) -> bytes:
        return _encode(self.callback_body(task, phase))

    def _corrupt(self, body: bytes) -> bytes:
        if self.rng.random() < 0.5:
            return body[: self.rng.randrange(1, len(body) - 1)]  # truncated JSON
        return self.rng.randbytes(self.rng.randint(16, 256))

    async def _send(self, task: SimTask, body: bytes, kind: str) -> None:
        if self.tasks.get(task.task_id) is not task or task.callback_url is None:
            return  # reset() or a DELETE dropped this task
        if task.cancelled:
            return
        started = time.time()
        status, error = await self._post(task.callback_url, body)
        self._log(task, kind, body, status, error, started)

    async def forge(self, task_id: object, body: object = None) -> tuple[int | None, str | None]:
        """POST ``body`` (default: a forged success claim) to the task's callback_url, as an
        attacker who learned the URL would; the (status, error) of that request."""
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise ValueError("unknown task_id")
        if task.callback_url is None:
            raise ValueError("task has no callback_url")
        if body is not None and not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        payload = _encode(body if body is not None else self.forged(task))
        started = time.time()
        status, error = await self._post(task.callback_url, payload)
        self._log(task, "forged", payload, status, error, started)
        return status, error

    async def _post(self, url: str, body: bytes) -> tuple[int | None, str | None]:
        if self.client is None:
            return None, "simulator lifespan is not running"
        try:
            response = await self.client.post(
                url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

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
