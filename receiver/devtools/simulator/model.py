"""A simulated task's life (its timing and its failure as its prompt asks), and the bodies
the simulator shows it in.

Task state is derived from the time since creation, so polling needs no timers. Envelope
field types drift on purpose (``code`` 200 or "success", times as ISO strings or epoch
seconds) because the real service does, and clients must parse tolerantly.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = str  # a kind of receiver/lifecycle/rules/task.py, or a route of SERVED_THROUGH
# Runway routes the relay's table does not know that this CometAPI serves, and what each
# makes (the relay passes them through; `avatar_videos`, say, it does not serve).
SERVED_THROUGH: dict[Kind, Literal["video", "image", "audio"]] = {
    "video_to_hdr": "video",
    "recipes/marketing_stock_image": "image",
}
Outcome = Literal["succeeded", "failed"]
CallbackPhase = Literal["running", "succeeded", "failed"]
Phase = Literal["queued", "running", "succeeded", "failed", "cancelled"]
CallbackShape = Literal["flat", "envelope"]
Style = Literal["reverse", "official"]
Op = Literal["submit", "poll", "cdn"]

_ATTACKER = "https://attacker.invalid"
TERMINAL: tuple[Phase, ...] = ("succeeded", "failed", "cancelled")
_REVERSE_STATUS: dict[Phase, str] = {
    "queued": "QUEUED",
    "running": "RUNNING",
    "succeeded": "SUCCESS",
    "failed": "FAILURE",
    "cancelled": "CANCELLED",
}
_FEED_STATUS: dict[Phase, str] = {**_REVERSE_STATUS, "running": "IN_PROGRESS"}
_RUNWAY_STATUS: dict[Phase, str] = {
    "queued": "PENDING",
    "running": "RUNNING",
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
}
# The flat callback's `status`. CometAPI documents only "3" (finished, with a video_url);
# "2" (running) and "4" (failed) are this simulator's assumption, not documented values.
_FLAT_STATUS: dict[CallbackPhase, str] = {"running": "2", "succeeded": "3", "failed": "4"}
_ACTION: dict[Kind, str] = {"video2video": "VIDEO_TO_VIDEO", "act_one": "ACT_ONE"}
# (failure text, Runway failureCode) pairs a failed task picks from.
_FAILURES = [
    ("Internal error while rendering the video", "INTERNAL.BAD_OUTPUT.CODE01"),
    ("The source could not be decoded", "INPUT_PREPROCESSING.INTERNAL"),
    ("Content moderation rejected the prompt", "SAFETY.INPUT.TEXT"),
]


def failure_of(prompt: str, rng: random.Random) -> tuple[str, str]:
    """A failure picked at random, the prompt's own words after `FAIL:` (so that tests can
    make upstream say anything, e.g. text that must be escaped in chat), or the failure
    code it names in `FAIL[CODE]`."""
    if "FAIL:" in prompt:
        return prompt.split("FAIL:", 1)[1], "INTERNAL"
    if named := re.search(r"FAIL\[([A-Z0-9_.]+)\]", prompt):
        return f"failed upstream ({named[1]})", named[1]
    return rng.choice(_FAILURES)


# A task's own timing, read from its prompt, so that a test or the bench can run tasks of
# varied lengths in one simulator: `queue=3 run=45` (seconds PENDING, then RUNNING),
# `curve=1.4` (progress grows as the running share to that power: uneven), `noprogress`
# (CometAPI reports none), `failat=0.5` (fails that share of the way through its run).
# Anything not given takes the simulator's own settings.
_NUMBER = r"(\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class Timing:
    queued_seconds: float
    running_seconds: float
    curve: float = 1.0
    shows_progress: bool = True
    fails_midway: bool = False
    planned_seconds: float = 0.0  # the whole run its progress counts against (failat)


def _number(prompt: str, name: str) -> float | None:
    found = re.search(rf"\b{name}={_NUMBER}", prompt)
    return float(found[1]) if found else None


def timing_of(prompt: str, queued_seconds: float, running_seconds: float) -> Timing:
    """The timing the prompt asks for, the simulator's defaults for the rest."""
    queued = _number(prompt, "queue")
    running = _number(prompt, "run")
    fail_at = _number(prompt, "failat")
    running = running_seconds if running is None else running
    return Timing(
        queued_seconds=queued_seconds if queued is None else queued,
        running_seconds=running * min(fail_at, 1.0) if fail_at is not None else running,
        curve=_number(prompt, "curve") or 1.0,
        shows_progress=re.search(r"\bnoprogress\b", prompt) is None,
        fails_midway=fail_at is not None,
        planned_seconds=running,
    )


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
    point: int  # credits the task costs
    # Where its files are: the simulator's own /cdn route, at the address it was asked on.
    cdn: str
    suffix: str = ".mp4"  # its render's format (files.py)
    callback_url: str | None = None
    body: dict[str, Any] = field(default_factory=dict)  # the create's body, as received
    curve: float = 1.0  # progress is the share of the run gone, to this power
    planned_seconds: float = 0.0  # that run, when it fails before its end (0: it does not)
    shows_progress: bool = True
    polls: int = 0
    polled_at: list[float] = field(default_factory=list)  # wall clock of each poll
    cancelled_at: float | None = None  # wall clock
    cancelled_mono: float | None = None  # freezes the task's clock where it was cancelled

    @property
    def started_at(self) -> float:
        return self.created_at + self.queued_seconds

    @property
    def finished_at(self) -> float:
        return self.started_at + self.running_seconds

    @property
    def outcome(self) -> Outcome:
        return "failed" if self.failure else "succeeded"

    @property
    def cancelled(self) -> bool:
        return self.cancelled_mono is not None

    def elapsed(self) -> float:
        now = self.cancelled_mono if self.cancelled_mono is not None else time.monotonic()
        return now - self.created_mono

    def reached(self) -> Phase:
        """How far the work got, ignoring cancellation (a cancelled task stops the clock)."""
        elapsed = self.elapsed()
        if elapsed < self.queued_seconds:
            return "queued"
        if elapsed < self.queued_seconds + self.running_seconds:
            return "running"
        return self.outcome

    def phase(self) -> Phase:
        return "cancelled" if self.cancelled else self.reached()

    def updated_at(self, phase: Phase) -> float:
        if phase == "queued":
            return self.created_at
        if phase == "running":
            return self.started_at
        if phase == "cancelled" and self.cancelled_at is not None:
            return self.cancelled_at
        return self.finished_at

    def progress(self, phase: Phase) -> float:
        if phase == "cancelled":
            phase = self.reached()
        if phase == "queued":
            return 0.0
        if phase != "running" or self.running_seconds <= 0:
            return 1.0
        run = self.planned_seconds or self.running_seconds
        return float(min(1.0, (self.elapsed() - self.queued_seconds) / run) ** self.curve)

    def charged(self) -> int:
        """Credits kept once terminal: failures are refunded, and so are tasks cancelled
        before they ran (Runway keeps the charge when the cancel finds the task RUNNING)."""
        phase = self.phase()
        if phase == "succeeded" or (phase == "cancelled" and self.reached() == "running"):
            return self.point
        return 0

    def describe(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "kind": self.kind,
            "status": self.phase(),
            "outcome": self.outcome,
            "prompt": self.prompt,
            "callback_url": self.callback_url,
            "created_at": self.created_at,
            "started_at": self.started_at,  # when it leaves the queue
            "finished_at": self.finished_at,  # when it ends (or ended) unless cancelled
            "polls": self.polls,
            "polled_at": self.polled_at,
            "point": self.point,
            "body": self.body,
        }


# --- bodies ------------------------------------------------------------------------------


def output_url(task: SimTask) -> str:
    """The task's render: a video, an image or a sound, as its kind makes."""
    return f"{task.cdn}/{task.task_id}{task.suffix}"


def _outputs(task: SimTask) -> dict[str, str]:
    return {
        "video_url": output_url(task),
        "poster": f"{task.cdn}/{task.task_id}-poster.png",
        "last_frame": f"{task.cdn}/{task.task_id}-last.png",
    }


def _stamp(epoch: float, rng: random.Random) -> str | int:
    return _iso(epoch) if rng.random() < 0.5 else int(epoch)


def envelope(task: SimTask, phase: Phase, rng: random.Random) -> dict[str, Any]:
    """The reverse-format envelope: the submit answer, and callbacks when so configured."""
    updated = task.updated_at(phase)
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "state": phase,
        "status": _REVERSE_STATUS[phase],
        "prompt": task.prompt,
        "prompt_en": task.prompt,
        "video_url": "",
        "last_frame": "",
        "msg": "",
        "create_time": _stamp(task.created_at, rng),
        "update_time": _stamp(updated, rng),
        "poster": "",
    }
    if phase == "succeeded":
        data.update(_outputs(task))
    elif phase == "failed" and task.failure:
        data["msg"] = task.failure[0]
    return {
        "code": rng.choice([200, "success"]),
        "msg": "success",
        "data": data,
        "exec_time": round(rng.uniform(0.005, 0.2), 3),
    }


def flat(task: SimTask, phase: CallbackPhase) -> dict[str, Any]:
    """The callback body CometAPI documents: one flat object, numbers as strings."""
    failed = phase == "failed"
    body: dict[str, Any] = {
        "task_id": task.task_id,
        "status": _FLAT_STATUS[phase],
        "prompt": task.prompt,
        "prompt_en": task.prompt,
        "video_url": "",
        "poster": "",
        "last_frame": "",
        "msg": task.failure[0] if failed and task.failure else None,
        "point": str(task.point),
        "refund": str(task.point) if failed else "0",
        "create_time": str(int(task.created_at)),
        "update_time": str(int(task.updated_at(phase))),
    }
    if phase == "succeeded":
        body.update(_outputs(task))
    return body


def forged(task: SimTask) -> dict[str, Any]:
    """A flat success claim pointing at an attacker's files, as anyone could POST it."""
    body = flat(task, "succeeded")
    body["video_url"] = f"{_ATTACKER}/evil.mp4"
    body["poster"] = body["last_frame"] = f"{_ATTACKER}/evil.png"
    return body


def feed(task: SimTask) -> dict[str, Any]:
    """The reverse-format poll answer (``POST /runway/feed``)."""
    phase = task.phase()
    inner: dict[str, Any] = {
        "id": task.task_id,
        "status": _RUNWAY_STATUS[phase],
        "createdAt": _iso(task.created_at),
    }
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "action": _ACTION.get(task.kind, task.kind.upper()),
        "status": _FEED_STATUS[phase],
        "fail_reason": task.failure[0] if phase == "failed" and task.failure else "",
        "submit_time": int(task.created_at),
        "start_time": 0 if task.reached() == "queued" else int(task.started_at),
        "finish_time": int(task.updated_at(phase)) if phase in TERMINAL else 0,
        "progress": f"{int(task.progress(phase) * 100) if task.shows_progress else 0}%",
        "data": inner,
    }
    if phase == "succeeded":
        outputs = _outputs(task)
        data["video_url"], data["poster"] = outputs["video_url"], outputs["poster"]
        inner["output"] = [data["video_url"]]
    elif phase == "failed" and task.failure:
        # The nested object is Runway's task, which names its failure as Runway does.
        inner["failure"], inner["failureCode"] = task.failure
    if phase in TERMINAL:
        # A finished task's cost, spelt as the callback spells it. CometAPI publishes the
        # feed's answer only for a queued task, which has none: this is an assumption.
        data["point"] = str(task.point)
        data["refund"] = str(task.point - task.charged())
    return {"code": "success", "message": "", "data": data}


def official(task: SimTask) -> dict[str, Any]:
    """A task as Runway's GET /v1/tasks/{id} shows it (the fields its SDK requires)."""
    phase = task.phase()
    status = "THROTTLED" if phase == "queued" and task.throttled else _RUNWAY_STATUS[phase]
    body: dict[str, Any] = {
        "id": task.task_id,
        "status": status,
        "createdAt": _iso(task.created_at),
    }
    # Unfinished tasks show an estimate (a float); terminal ones the final cost (an int).
    if phase in TERMINAL:
        body["cost"] = {"credits": task.charged()}
    else:
        body["estimatedCost"] = {"credits": float(task.point)}
    if phase == "running" and task.shows_progress:
        body["progress"] = round(task.progress(phase), 2)
    elif phase == "succeeded":
        body["output"] = [output_url(task)]
    elif phase == "failed" and task.failure:
        body["failure"], body["failureCode"] = task.failure
    return body


def created(task: SimTask) -> dict[str, Any]:
    """The answer of an official create route."""
    return {"id": task.task_id, "estimatedCost": {"credits": float(task.point)}}
