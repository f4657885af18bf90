"""Between Runway's API shape and the relay's tasks: pure functions, no I/O.

Runway's task object has a status word of its own (PENDING, THROTTLED, RUNNING, SUCCEEDED,
FAILED, CANCELLED), camelCase fields, and a cost that is an estimate (a float) until the
task ends and a whole number of credits after.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from receiver.persist import Task

OUTPUT_ROLES = ("video", "image", "audio")


def relay_payload(kind: str, body: Any) -> Any:
    """The relay's submit body for a Runway create: the same fields, and the route's kind.
    Anything but an object goes on as it is, for the relay's own validation to refuse."""
    if not isinstance(body, dict):
        return body
    return {**body, "kind": kind}


def runway_status(task: Task) -> str:
    """Runway's word for where the task is. A task the relay still holds (CometAPI has no
    room, or it is next in line) is THROTTLED: Runway's word for a task queued behind the
    account's concurrency."""
    if task.state == "queued":
        if task.upstream_task_id is None:
            return "THROTTLED"
        return "THROTTLED" if (task.upstream_status or "").upper() == "THROTTLED" else "PENDING"
    return {
        "running": "RUNNING",
        "succeeded": "SUCCEEDED",
        "failed": "FAILED",
        "cancelled": "CANCELLED",
    }[task.state]


def _iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def charged(task: Task) -> int:
    """Credits charged, as CometAPI last confirmed them (0 when it said nothing)."""
    return max(0, round((task.point or 0) - (task.refund or 0)))


def estimate(task: Task) -> dict[str, float]:
    return {"credits": float(task.point or 0)}


def runway_task(
    task: Task, copies: list[str] | None = None, failure_code: str | None = None
) -> dict[str, Any]:
    """The task as Runway's `GET /v1/tasks/{id}` shows one. `copies`: the relay's own links
    to the renders, which outlive the provider's; CometAPI's links otherwise."""
    status = runway_status(task)
    body: dict[str, Any] = {"id": task.id, "status": status, "createdAt": _iso(task.created_at)}
    if status in ("SUCCEEDED", "FAILED", "CANCELLED"):
        body["cost"] = {"credits": charged(task)}
    else:
        body["estimatedCost"] = estimate(task)
    if status == "RUNNING":
        body["progress"] = min(1.0, max(0.0, task.progress or 0.0))
    elif status == "SUCCEEDED":
        body["output"] = copies or list(task.outputs)
    elif status == "FAILED":
        body["failure"] = task.error or "the task failed"
        if failure_code:
            body["failureCode"] = failure_code
    return body


def copied_outputs(media: Any) -> list[str]:
    """The relay's links to the copied outputs (videos, images or audio; not the posters),
    from an event's `media` section."""
    if not isinstance(media, dict) or media.get("status") != "mirrored":
        return []
    files = media.get("files") or []
    return [f["url"] for f in files if isinstance(f, dict) and f.get("role") in OUTPUT_ROLES]


def organization(tasks: list[Task], concurrency_cap: int) -> dict[str, Any]:
    """Runway's `GET /v1/organization`, from what the relay knows: the concurrency cap it
    keeps for every model (null: none), and per model the tasks made today (UTC) and the
    credits CometAPI confirmed for them. The balance and monthly spend are CometAPI's
    account's, which the relay cannot see: 0."""
    usage: dict[str, dict[str, int]] = {}
    for task in tasks:
        model = task.request.get("model")
        name = model if isinstance(model, str) and model else task.kind
        used = usage.setdefault(name, {"dailyGenerations": 0, "creditsSpent": 0})
        used["dailyGenerations"] += 1
        used["creditsSpent"] += charged(task)
    cap = concurrency_cap or None
    limits = {"maxConcurrentGenerations": cap, "maxDailyGenerations": None}
    return {
        "creditBalance": 0,
        "tier": {"maxMonthlyCreditSpend": 0, "models": dict.fromkeys(usage, limits)},
        "usage": {"models": usage},
    }
