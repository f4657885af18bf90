"""What each tool does: the pipeline actions the HTTP API's handlers call, for the bearer
key's caller. A refusal is an outcome with `error` set, answered as a tool error a model
can act on, never as a protocol failure. No `mcp` import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from receiver.agents import ToolParts
from receiver.agents.tools import BY_NAME, SubmitArgs
from receiver.agents.watch import Progress, small_image, task_view, wait_until_ended
from receiver.deliveries import actions as delivery_actions
from receiver.deliveries.api import DeliveryList
from receiver.kernel.errors import InvalidRequest, LimitReached, NotFound, RelayError
from receiver.kernel.http.body import refuse_nul
from receiver.kernel.http.models import as_answer
from receiver.keys.rules import Caller
from receiver.lifecycle.rules.records import TaskFilter
from receiver.lifecycle.rules.task import output_of
from receiver.outbox.rules.delivery import DeliveryFilter
from receiver.shares.share import make_link
from receiver.tasks import actions as task_actions
from receiver.tasks import submit
from receiver.tasks.detail import own
from receiver.tasks.rules.answers import TaskListParams


@dataclass(frozen=True)
class Image:
    data: bytes
    content_type: str


@dataclass
class Outcome:
    """A tool's answer: its JSON, images to show inline, or the refusal's words."""

    data: dict[str, Any]
    images: list[Image] = field(default_factory=list)
    error: str | None = None


def refusal(exc: RelayError) -> Outcome:
    """A refusal as a model reads it: what went wrong, and for a limit when to retry."""
    data: dict[str, Any] = {"error": type(exc).__name__, "detail": exc.detail}
    text = exc.detail
    if isinstance(exc, LimitReached):
        data.update(error="limit_reached", limit=exc.limit, retry_after=exc.retry_after)
        text = (
            f"limit {exc.limit} reached: {exc.detail}. Do not submit again before"
            f" {exc.retry_after} seconds; meanwhile wait for your open tasks to end."
        )
    elif isinstance(exc, NotFound):
        data["error"] = "not_found"
    return Outcome(data, error=text)


async def _submit(intake: submit.Intake, caller: Caller, args: SubmitArgs) -> Outcome:
    result = await submit.submit(intake, args.request, args.idempotency_key, None, caller)
    task = result.task
    data = {"id": task.id, "kind": task.kind, "state": task.state, "created": result.created}
    if task.queue_position is not None:
        data["queue_position"] = task.queue_position
    data["output_type"] = output_of(task.kind)
    data["next"] = "call wait_for_task with this id"
    return Outcome(data)


async def _with_images(parts: ToolParts, view: dict[str, Any]) -> Outcome:
    images = []
    cap, media = parts.settings.mcp.inline_image_bytes, parts.settings.media
    for file in view["files"] if cap else ():
        if file["content_type"].startswith("image/"):
            data = await small_image(parts.media_links, media, parts.public_url, file["url"], cap)
            if data is not None:
                images.append(Image(data, file["content_type"]))
    return Outcome(view, images)


async def call(
    parts: ToolParts,
    caller: Caller,
    name: str,
    arguments: dict[str, Any],
    progress: Progress,
) -> Outcome:
    """Run tool `name` for `caller`; a refusal comes back as an Outcome with `error`."""
    tool = BY_NAME.get(name)
    if tool is None or not caller.allows(tool.scope):
        # A tool the key may not call is not even listed: it does not exist for it.
        return Outcome({"error": "unknown_tool"}, error=f"no tool named {name!r}")
    try:
        # PostgreSQL's text holds no NUL: refused in any field, by the API's own rule.
        refuse_nul(arguments, "arguments")
    except InvalidRequest as exc:
        return Outcome({"error": "invalid_arguments", "detail": exc.detail}, error=exc.detail)
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        return Outcome({"error": "invalid_arguments", "detail": problems}, error=problems)
    try:
        return await _run(parts, caller, name, args, progress)
    except RelayError as exc:
        return refusal(exc)


async def _run(
    parts: ToolParts, caller: Caller, name: str, args: Any, progress: Progress
) -> Outcome:
    """The tool's work, through the pipeline as the API does it (web/api/tasks.py)."""
    if name == "submit_task":
        return await _submit(parts.intake, caller, args)
    if name == "get_task":
        view = await task_view(parts.store, caller, args.task_id)
        return await _with_images(parts, view)
    if name == "wait_for_task":
        bound = min(args.timeout_seconds, parts.settings.mcp.max_wait_seconds)
        changes = parts.changes
        view = await wait_until_ended(parts.store, changes, caller, args.task_id, bound, progress)
        return await _with_images(parts, view)
    if name == "cancel_task":
        task = await task_actions.cancel_task(
            parts.canceller, parts.directory, args.task_id, caller
        )
        return Outcome({"id": task.id, "state": task.state, "cancelled": True})
    if name == "share_task":
        options = (args.ttl_seconds, args.show_prompt)
        store, url, signer = parts.store, parts.public_url, parts.share_signer
        link = await make_link(store, url, signer, caller, args.task_id, *options)
        return Outcome({"task_id": args.task_id, "url": link.url, "expires_at": link.expires_at})
    if name == "list_tasks":
        return await _list(parts, caller, args)
    if name == "list_deliveries":
        wanted = DeliveryFilter(args.state, args.downstream, args.task_id, args.limit)
        found = await delivery_actions.deliveries_for(parts.store, caller, wanted)
        # An app knows its downstreams by the names it gave them.
        return Outcome(as_answer(DeliveryList, {"deliveries": own(caller, found)}))
    count = await delivery_actions.replay_delivery(parts.workers, args.delivery_id, caller)
    return Outcome({"replayed": count})


# What list_tasks shows of each task.
_LISTED = ("id", "kind", "state", "app", "progress", "created_at", "prompt", "error")


async def _list(parts: ToolParts, caller: Caller, args: TaskListParams) -> Outcome:
    wanted = TaskFilter(
        state=args.state,
        kind=args.kind,
        since=args.since,
        text=args.q or None,
        before=args.before,
        owner_key=await task_actions.owner_filter(parts.store, caller, args.app),
    )
    window = parts.settings.server.search_window
    page = await task_actions.list_tasks(parts.store, wanted, args.limit, window)
    tasks = [{field: getattr(t, field) for field in _LISTED} for t in page.tasks]
    return Outcome({"tasks": tasks, "next": page.next})
