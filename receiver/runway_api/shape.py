"""Between Runway's API shape and the relay's tasks: pure functions, no I/O. Runway's cost
is an estimate (a float) until the task ends, and a whole number of credits after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from receiver.lifecycle.rules.records import Task

OUTPUT_ROLES = ("video", "image", "audio")


def relay_payload(kind: str, body: Any) -> Any:
    """The relay's submit body for a Runway create: the same fields, and the route's kind.
    Anything but an object goes on as it is, for the relay's own validation to refuse."""
    if not isinstance(body, dict):
        return body
    return {**body, "kind": kind}


def runway_status(task: Task) -> str:
    """Runway's word for where the task is: one the relay still holds is THROTTLED, Runway's
    word for a task queued behind the account's concurrency."""
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
    """Runway's `GET /v1/organization`, from what the relay knows: the balance and monthly
    spend are CometAPI's account's, which the relay cannot see: 0."""
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


MAX_USAGE_DAYS = 90  # Runway's own bound on one usage query
DEFAULT_USAGE_DAYS = 30


def usage_window(start: date | None, before: date | None, today: date) -> tuple[date, date]:
    """The days asked, as Runway reads them: `startDate` 30 days back and `beforeDate` 30
    days after it unless given; ValueError when the window is empty or over 90 days."""
    first = start or (today - timedelta(days=DEFAULT_USAGE_DAYS))
    end = before or (first + timedelta(days=DEFAULT_USAGE_DAYS))
    if end <= first:
        raise ValueError("beforeDate must be after startDate")
    if (end - first).days > MAX_USAGE_DAYS:
        raise ValueError(f"beforeDate must be at most {MAX_USAGE_DAYS} days after startDate")
    return first, end


def usage(tasks: list[Task], first: date, end: date, known: frozenset[str]) -> dict[str, Any]:
    """Runway's `POST /v1/organization/usage`, every day of the window listed. A model
    Runway's SDK does not name is left out: its strict mode refuses any other name."""
    days: dict[date, dict[str, int]] = {}
    for task in tasks:
        model = task.request.get("model")
        day = datetime.fromtimestamp(task.created_at, UTC).date()
        if isinstance(model, str) and model in known and first <= day < end:
            spent = days.setdefault(day, {})
            spent[model] = spent.get(model, 0) + charged(task)
    results = []
    for offset in range((end - first).days):
        day = first + timedelta(days=offset)
        spent = days.get(day, {})
        used = [{"amount": amount, "model": model} for model, amount in sorted(spent.items())]
        results.append({"date": day.isoformat(), "usedCredits": used})
    models = sorted({model for spent in days.values() for model in spent})
    return {"models": models, "results": results}
