"""The MCP tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28 era): a task
submitted with `submit_task` answered as a handle the client follows with `tasks/get`.
A handle says only what the store says (watch.task_view), never a callback's claim.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

EXTENSION = "io.modelcontextprotocol/tasks"
# How often a client is asked to poll: a render takes tens of seconds to minutes.
POLL_INTERVAL_MS = 2000

McpStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]
_STATUS: dict[str, McpStatus] = {
    "queued": "working",
    "running": "working",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def mcp_status(state: str, copying: bool) -> McpStatus:
    """The MCP status of a relay task in `state`: still working while its renders are being
    copied (its result's links would change); never `input_required`."""
    status = _STATUS.get(state)
    if status is None:
        raise ValueError(f"no MCP status for the relay state {state!r}")
    return "working" if status == "completed" and copying else status


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def handle(view: dict[str, Any]) -> dict[str, Any]:
    """The Task fields of a `task_view`: what `tools/call` answers with `resultType: "task"`,
    and the heart of a `tasks/get` answer (server.py adds the result of a completed one)."""
    status = mcp_status(view["state"], bool(view.get("copying")))
    message = view["state"]
    if status == "working" and view["state"] == "succeeded":
        message = "succeeded, copying the renders"
    elif view.get("error"):
        message = f"{view['state']}: {view['error']}"
    return {
        "taskId": view["id"],
        "status": status,
        "statusMessage": message,
        "createdAt": _iso(view["created_at"]),
        "lastUpdatedAt": _iso(view["updated_at"]),
        "ttlMs": None,  # the relay keeps a task as long as its retention policy says
        "pollIntervalMs": POLL_INTERVAL_MS,
    }


def wants_handles(extensions: dict[str, Any] | None) -> bool:
    """Whether the client's per-request capabilities declare the tasks extension."""
    return bool(extensions) and EXTENSION in (extensions or {})
