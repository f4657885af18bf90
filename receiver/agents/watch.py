"""Following a task for an agent: `wait_for_task` and `task://{id}` subscriptions. Both
take what the process's one reader of the change feed hands out, so a waiting agent costs
no store read while nothing changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from receiver.config.sections import MediaConfig
from receiver.kernel.errors import NotFound
from receiver.kernel.http.models import answerable_metadata
from receiver.kernel.secrets.tokens import MediaLinks
from receiver.kernel.store import Store
from receiver.keys.rules import Caller
from receiver.lifecycle.rules.task import TERMINAL_STATES, output_of
from receiver.media.storage.local import MediaStoreError, Redirect, open_media_store
from receiver.shares.share import prompt_of, shared_view
from receiver.stream.changes import ChangeHub, Subscription
from receiver.tasks import actions as task_actions
from receiver.tasks import reads as task_reads

# (progress, total, message): sent as MCP progress notifications when the caller asked.
Progress = Callable[[float, float | None, str | None], Awaitable[None]]


async def task_view(store: Store, caller: Caller, task_id: str) -> dict[str, Any]:
    """The task as an agent needs it: state, progress, its renders' links and their types.
    Another key's task is no such task, as at the API."""
    await task_actions.task_of(store, task_id, caller)
    detail = await task_reads.task_detail(store, task_id, documents=20)
    if detail is None:
        raise NotFound("no such task")
    view = shared_view(detail)
    task, media = detail.task, detail.media() or {}
    view.update(
        # The key's own task: CometAPI's words too, not only those safe for an end user.
        error=task.error,
        app=task.app,  # whose it is, not the share link's app
        prompt=prompt_of(task),  # the key's own task: its prompt, as GET /v1/tasks/{id} has it
        output_type=output_of(task.kind),
        # The copies' status (pending, mirrored, failed with its reason); null: none made.
        copies={k: media[k] for k in ("status", "reason") if k in media} or None,
        queue_position=task.queue_position,
        metadata=answerable_metadata(task.metadata),
    )
    return view


def settled(view: dict[str, Any]) -> bool:
    """Ended, and its renders' copies made (or none to make)."""
    return view["state"] in TERMINAL_STATES and not view["copying"]


def subscriber_name(caller: Caller) -> str:
    # The change hub caps subscriptions per client: one agent's key is one client.
    return f"mcp:{caller.key_id or 'admin'}"


class Reporter:
    """Progress notifications that only ever rise, as the protocol asks, each saying what
    the task is doing."""

    def __init__(self, send: Progress) -> None:
        self._send = send
        self._sent: tuple[float, str] | None = None

    async def report(self, view: dict[str, Any]) -> None:
        message = view["state"]
        if view["state"] == "queued" and view.get("queue_position") is not None:
            message = f"queued, place {view['queue_position']} in the submit queue"
        elif view["copying"]:
            message = f"{view['state']}, copying the renders"
        value = 100.0 * (view["progress"] or 0.0)
        if self._sent is not None:
            if self._sent[1] == message and value <= self._sent[0]:
                return
            value = max(value, self._sent[0] + 0.01)
        self._sent = (value, message)
        await self._send(value, 100.0, message)


async def wait_until_ended(
    store: Store,
    changes: ChangeHub,
    caller: Caller,
    task_id: str,
    bound: float,
    progress: Progress,
) -> dict[str, Any]:
    """The task's view once it has settled, or when `bound` seconds have passed (then
    `waited_out` says so); progress is reported at each change meanwhile."""
    reporter = Reporter(progress)
    deadline = time.monotonic() + bound
    sub = changes.subscribe(subscriber_name(caller))  # before the first read
    try:
        while True:
            view = await task_view(store, caller, task_id)
            await reporter.report(view)
            if settled(view):
                return view
            left = deadline - time.monotonic()
            if left <= 0 or not await next_change(sub, task_id, left):
                view["waited_out"] = True
                view["next"] = "not ended yet: call wait_for_task again to keep waiting"
                return view
    finally:
        changes.unsubscribe(sub)


async def next_change(sub: Subscription, task_id: str, within: float) -> bool:
    """True when the task changed; False after `within` seconds, at shutdown, or when the
    subscription fell behind (the caller reads the task again either way)."""
    deadline = time.monotonic() + within
    while not sub.dropped:
        try:
            change = await asyncio.wait_for(sub.queue.get(), deadline - time.monotonic())
        except TimeoutError:
            return False
        if change is None:
            return False
        if change.task_id == task_id:
            return True
    return False


async def follow(
    store: Store,
    changes: ChangeHub,
    caller: Caller,
    task_id: str,
    announce: Callable[[], Awaitable[None]],
) -> None:
    """Announce each change of the task to a subscriber until it has settled; the caller
    cancels it on unsubscribe or when the session ends."""
    sub = changes.subscribe(subscriber_name(caller))
    try:
        while not settled(await task_view(store, caller, task_id)):
            if await next_change(sub, task_id, 60.0):
                await announce()
        await announce()
    finally:
        changes.unsubscribe(sub)


async def small_image(
    links: MediaLinks, media: MediaConfig, public_url: str, url: str, cap: int
) -> bytes | None:
    """The bytes of the relay's copy at `url` when it is at most `cap` bytes, else None:
    read from the media store, as `GET /media/{token}` serves it."""
    base = f"{public_url}/media/"
    link = links.read(url[len(base) :]) if url.startswith(base) else None
    if link is None:
        return None
    try:
        found = await open_media_store(media).locate(*link)
    except (MediaStoreError, ValueError):
        return None
    if found is None or isinstance(found, Redirect):
        return None
    if isinstance(found, Path):
        return await asyncio.to_thread(_read_small, found, cap)
    if found.size > cap:
        return None
    return b"".join([chunk async for chunk in found.read(0, found.size)])


def _read_small(path: Path, cap: int) -> bytes | None:
    try:
        if path.stat().st_size > cap:
            return None
        return path.read_bytes()
    except OSError:
        return None
