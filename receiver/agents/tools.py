"""The agents' door's tools: descriptions written for a model to choose well, schemas from
the API's own models, and each tool's scope read from the API route it stands for, so the
door allows exactly what the HTTP API allows. Plain data, no `mcp` import.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from pydantic import BaseModel, Field, TypeAdapter

from receiver.api.routers import openapi
from receiver.deliveries.api import DeliveryIdParams, DeliveryListParams
from receiver.kernel.http import models as m
from receiver.keys.rules import Caller, Scope
from receiver.lifecycle.rules.task import KINDS
from receiver.shares.api import ShareParams
from receiver.tasks.rules.answers import TaskIdParams, TaskListParams
from receiver.tasks.submit import AnyTaskRequest


class SubmitArgs(BaseModel):
    """`submit_task`: the body of `POST /v1/tasks`, and its Idempotency-Key."""

    request: dict[str, Any] = Field(description="The task, exactly as POST /v1/tasks takes it.")
    idempotency_key: m.Key | None = Field(
        None,
        description="Send the same key again after a lost answer: you get the first task back,"
        " not a second one.",
    )


class WaitArgs(TaskIdParams):
    timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Return after this long if the task has not ended (the relay may cut it"
        " shorter); call again to keep waiting.",
    )


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[BaseModel]
    # The API route this tool does the work of: its scope is the tool's.
    route: tuple[str, str]
    read_only: bool = True

    @property
    def scope(self) -> Scope:
        return route_scope(*self.route)

    def input_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        if self.args is SubmitArgs:
            body = TypeAdapter(AnyTaskRequest).json_schema()
            schema.setdefault("$defs", {}).update(body.pop("$defs", {}))
            schema["properties"]["request"] = {**body, "description": _KIND_GUIDE}
        return schema


def route_scope(path: str, method: str) -> Scope:
    """The scope the API asks of a key for this route."""
    operation = openapi()["paths"].get(path, {}).get(method.lower(), {})
    for needed in operation.get("security", []):
        for scopes in needed.values():
            return cast(Scope, scopes[0])
    raise LookupError(f"no API route {method} {path} with a scope")


def _kind_lines() -> str:
    lines = []
    for output in ("video", "image", "audio"):
        names = [k.name for k in KINDS.values() if k.output == output]
        lines.append(f"makes {output}: {', '.join(names)}")
    return "; ".join(lines)


_KIND_GUIDE = (
    "The task, as the relay's POST /v1/tasks takes it: `kind` picks the generation ("
    + _kind_lines()
    + "). video2video takes `video` (a URL) and `prompt`; every other kind takes Runway's own"
    " body for that route with its `model` (e.g. image_to_video: model gen4_turbo,"
    " promptImage URL, promptText). Read the resource relay://kinds for every kind's fields."
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "submit_task",
        "Start a Runway generation (video, image or audio) through the relay's queue. Give"
        " `request` with its `kind`; the answer is the task's id and state (`queued` at"
        " first). Then call wait_for_task with the id. Refused with the limit's name and when"
        " to retry when your key's max_queued or max_per_day is reached.",
        SubmitArgs,
        ("/v1/tasks", "POST"),
        read_only=False,
    ),
    ToolSpec(
        "get_task",
        "One task now: state, progress, error, and its outputs: the relay's copies of the"
        " renders (links with their content type), or CometAPI's links while there are none.",
        TaskIdParams,
        ("/v1/tasks/{task_id}", "GET"),
    ),
    ToolSpec(
        "wait_for_task",
        "Wait until a task ends (succeeded, failed or cancelled), sending progress while it"
        " runs, or until timeout_seconds pass: then its state so far; call again to go on."
        " A finished image small enough comes back as an image too.",
        WaitArgs,
        ("/v1/tasks/{task_id}", "GET"),
    ),
    ToolSpec(
        "list_tasks",
        "Your tasks, newest first, a page at a time (pass the answer's `next` as `before`);"
        " filter by state, kind, since, or text in the request (q). Each says its app.",
        TaskListParams,
        ("/v1/tasks", "GET"),
    ),
    ToolSpec(
        "cancel_task",
        "Cancel a task: at once while it waits in the queue, else at CometAPI for Runway's"
        " own kinds. A task that has ended, or a video2video already sent, cannot be.",
        TaskIdParams,
        ("/v1/tasks/{task_id}", "DELETE"),
        read_only=False,
    ),
    ToolSpec(
        "share_task",
        "A link to hand a person: a page showing the task's progress, then its video, image"
        " or sound, with no key; it expires after ttl_seconds (7 days unless given).",
        ShareParams,
        ("/v1/tasks/{task_id}/share", "POST"),
        read_only=False,
    ),
    ToolSpec(
        "list_deliveries",
        "The deliveries of task events to the relay's downstreams (webhooks, chats,"
        " brokers), newest first: their state, and the reason one failed.",
        DeliveryListParams,
        ("/v1/deliveries", "GET"),
    ),
    ToolSpec(
        "replay_delivery",
        "Send one delivery again at once, whatever its state (after fixing its downstream).",
        DeliveryIdParams,
        ("/v1/deliveries/{delivery_id}/replay", "POST"),
        read_only=False,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


def tools_for(caller: Caller) -> list[ToolSpec]:
    """The tools this caller may call: a tool whose scope it lacks is not even listed."""
    return [tool for tool in TOOLS if caller.allows(tool.scope)]


@cache
def schemas() -> dict[str, dict[str, Any]]:
    return {tool.name: tool.input_schema() for tool in TOOLS}
