"""The CLI's side of a running relay that needs no network (reading Server-Sent Events,
drawing progress, the lines `receiver tail` prints), tested alone; the HTTP is in relay.py."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

URL_ENV = "RECEIVER_URL"
TOKEN_ENV = "RECEIVER_ADMIN_TOKEN"
KEY_ENV = "RECEIVER_API_KEY"  # an app's key, where the API takes one
DEFAULT_URL = "http://127.0.0.1:8080"
TERMINAL = ("succeeded", "failed", "cancelled")


class RemoteError(Exception):
    """Something the relay (or the way to it) did: one line, safe to print; `status`, the
    relay's answer's when it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StreamUnavailable(RemoteError):
    """This relay has no live stream (an older one): poll instead."""


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: str
    id: str | None


@dataclass
class EventReader:
    """Server-Sent Events, line by line, as the HTML standard reads them: too small to take
    a dependency for. Comments (`: keep-alive`) are skipped."""

    last_id: str | None = None
    retry_ms: int | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> ServerEvent | None:
        """One line without its end; a blank line completes the event (if it has data)."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerEvent(event, "\n".join(data), self.last_id)


def submit_body(
    kind: str, prompt: str | None, source: str | None, model: str | None, fields: str | None
) -> dict[str, Any]:
    """The submit body: the kind's fields (JSON), the prompt and the source where the table
    of kinds puts them, the model. ValueError when an option does not fit the kind."""
    from receiver.lifecycle.rules.task import KIND_NAMES, kind_of

    found = kind_of(kind)
    if found is None:
        raise ValueError(f"--kind must be one of {', '.join(KIND_NAMES)}")
    body: dict[str, Any] = {"kind": kind}
    if fields:
        try:
            given = json.loads(fields)
        except ValueError as exc:
            raise ValueError(f"--body is not JSON: {exc}") from None
        if not isinstance(given, dict):
            raise ValueError("--body must be a JSON object of the kind's fields")
        body.update({k: v for k, v in given.items() if k != "kind"})
    for what, value, name in (("prompt", prompt, found.prompt), ("source", source, found.source)):
        if not value:
            continue
        if name is None:
            raise ValueError(f"{kind} has no {what} field of its own: give its fields in --body")
        body[name] = value
    if model:
        body["model"] = model
    return body


def progress_line(task: dict[str, Any], width: int = 24) -> str:
    """`[#########...............]  37%  running` for a task summary; a task still in the
    relay's submit queue says so, with its place when the relay said it."""
    state = task.get("state") or "?"
    if task.get("submission") == "waiting":
        place = task.get("queue_position")
        state = f"{state}, waiting to be sent" + (f" (#{place} in line)" if place else "")
    progress = task.get("progress")
    if state == "succeeded":
        progress = 1.0
    if not isinstance(progress, int | float):
        return f"[{'.' * width}]   -   {state}"
    share = min(max(float(progress), 0.0), 1.0)
    done = round(share * width)
    return f"[{'#' * done}{'.' * (width - done)}] {round(share * 100):3d}%  {state}"


def output_urls(task: dict[str, Any]) -> list[str]:
    """The copies' URLs when the relay made them, else CometAPI's own links."""
    media = task.get("media") or {}
    mirrored = [f["url"] for f in media.get("files") or [] if f.get("url")]
    return mirrored or list(task.get("outputs") or [])


def change_line(event: ServerEvent, data: dict[str, Any]) -> str:
    """One line of `receiver tail` for one change."""
    extra = f"  {data['error']}" if data.get("error") else ""
    if event.event == "task":
        at = data.get("updated_at")
        progress = data.get("progress")
        share = f" {round(progress * 100)}%" if isinstance(progress, int | float) else ""
        return (
            f"{_clock(at)}  task     {data.get('id')}  {data.get('kind')}"
            f"  {data.get('state')}{share}{extra}"
        )
    if event.event == "attempt":
        status = data.get("status")
        answer = f"HTTP {status}" if status is not None else "no answer"
        latency = data.get("latency_ms")
        took = f"  {latency:.0f} ms" if isinstance(latency, int | float) else ""
        return (
            f"{_clock(data.get('finished_at'))}  attempt  {data.get('task_id')}"
            f"  -> {data.get('downstream')} #{data.get('number')}  {answer}{took}"
            f"  {data.get('outcome')}{extra}"
        )
    return f"{_clock(None)}  {event.event}  {event.data}"


def _clock(at: object) -> str:
    moment = at if isinstance(at, int | float) else time.time()
    return time.strftime("%H:%M:%S", time.localtime(moment))
