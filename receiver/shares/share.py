"""Share links: made for one task by a key that may read it, opened by anyone holding one,
for as long as it has not expired and the key that made it is not revoked (or, for the
admin token's, while the admin token is the same). Their live streams end with the link."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from receiver.kernel.errors import NotFound
from receiver.kernel.store import Store
from receiver.keys.bearers import Keys
from receiver.keys.rules import Caller
from receiver.lifecycle.rules.polling import end_from_progress
from receiver.lifecycle.rules.records import Task
from receiver.lifecycle.rules.task import kind_of, output_of
from receiver.shares.links import SharedLink, ShareRefused, ShareSigner
from receiver.tasks import reads as task_reads
from receiver.tasks.actions import task_of
from receiver.tasks.reads import TaskHistory


@dataclass(frozen=True)
class ShareLink:
    url: str
    expires_at: float


async def make_link(
    store: Store,
    public_url: str,
    signer: ShareSigner,
    caller: Caller,
    task_id: str,
    ttl: float,
    show_prompt: bool = False,
) -> ShareLink:
    """A link to the caller's task; its page names the caller's app (a key's name; none for
    the admin token) and shows the prompt only when `show_prompt`."""
    task = await task_of(store, task_id, caller)
    expires_at = time.time() + ttl
    app = (caller.app or caller.name) if caller.key_id is not None else ""
    token = signer.token_for(task.id, caller.key_id, expires_at, app, show_prompt)
    return ShareLink(f"{public_url}/share/{token}", expires_at)


async def opened_link(
    store: Store, signer: ShareSigner, keys: Keys, token: str
) -> tuple[SharedLink, TaskHistory]:
    """The link (for its stream's holder) and the task it opens, with what shows where its
    renders' copies are; ShareRefused when the link does not open (any more)."""
    link = signer.open(token, time.time())
    if link.key_id is not None and not await keys.live(link.key_id):
        raise ShareRefused("the key that made this share link was revoked", "revoked")
    detail = await task_reads.task_detail(store, link.task_id, documents=20)
    if detail is None:
        raise NotFound("the task is no longer kept")
    return link, detail


def shared_view(detail: TaskHistory, link: SharedLink | None = None) -> dict[str, Any]:
    """What a share link shows: the task's progress and its renders, the app that made the
    link, and of its request only the prompt, when the link allows it. A failure is told
    in the words safe for an end user (the webhook's `failure_message`), never CometAPI's."""
    task, media = detail.task, detail.media()
    files = [
        {"url": f["url"], "content_type": f["content_type"], "role": f["role"]}
        for f in (media or {}).get("files", [])
    ]
    end = None
    if task.state == "running" and task.progress:
        end = end_from_progress(task.created_at, time.time(), task.progress)
    return {
        "id": task.id,
        "kind": task.kind,
        "made": output_of(task.kind),
        "app": (link.app or None) if link else None,
        "prompt": prompt_of(task) if link and link.show_prompt else None,
        "state": task.state,
        "progress": 1.0 if task.state == "succeeded" else task.progress,
        "estimated_end": end,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "files": files,
        # Before (or without) copies: CometAPI's own links, which expire in a day or two.
        "outputs": [] if files else task.outputs,
        "copying": (media or {}).get("status") == "pending",
        "error": detail.failure()["failure_message"],
    }


def prompt_of(task: Task) -> str | None:
    """The task's text prompt as it was sent (its kind's prompt field), if it has one."""
    kind = kind_of(task.kind)
    found = task.request.get(kind.prompt) if kind is not None and kind.prompt else None
    return found if isinstance(found, str) and found else None
