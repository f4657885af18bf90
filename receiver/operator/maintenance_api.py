"""What the relay also does on its own, asked for now by the operator (`receiver prune`,
`receiver media prune` through a running relay): retention's prune, and the media copies
past their days removed; their routes and answers."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from receiver.kernel.errors import Conflict, StoreError
from receiver.kernel.http.models import Answer, ErrorAnswer, Params
from receiver.kernel.http.openapi import answer, reply
from receiver.keys.guard import operation
from receiver.media.api import Storage
from receiver.media.storage.local import MediaStoreError
from receiver.retention.worker import prune_now
from receiver.wiring.dependencies import Logged, MediaSection, RetentionSection, Workers


class Pruned(Answer):
    removed: dict[str, int] = Field(
        description="What it removed (with `dry_run`, would remove), by kind: `tasks`,"
        " `events`, `deliveries`, `attempts`, `mirrors`, `chat_messages`."
    )
    task_days: float = Field(description="`retention.task_days`: ended longer ago goes.")
    dry_run: bool
    bytes_given_back: int = Field(description="Given back to the file system (SQLite).")


class PruneParams(Params):
    dry_run: bool = Field(False, description="Only say what a prune now would remove.")


class MediaPruned(Answer):
    files: int = Field(description="Copies removed.")
    bytes: int = Field(description="Their size.")
    kept_bytes: int = Field(description="What the media store still holds.")
    retention_days: float = Field(description="`media.retention_days`: older copies go.")


router = APIRouter(tags=["maintenance"])


@router.post(
    "/v1/retention/prune",
    **operation(
        "admin",
        "Prune ended tasks now",
        "Removes the tasks that ended more than `retention.task_days` ago, with everything"
        " that hangs on them, as the relay does every"
        " `advanced.retention.prune_interval_seconds`; with `dry_run`, only counts them.",
        {
            200: answer("Pruned, or counted.", Pruned),
            409: answer("Another replica is pruning now.", ErrorAnswer),
        },
    ),
)
async def prune(
    workers: Workers, settings: RetentionSection, params: Annotated[PruneParams, Query()]
) -> Response:
    done = await prune_now(workers, settings, params.dry_run)
    if done is None:
        raise Conflict("another replica is pruning now; try again when it is done")
    removed, given_back = done
    pruned = {
        "removed": removed,
        "task_days": settings.task_days,
        "dry_run": params.dry_run,
        "bytes_given_back": given_back,
    }
    return reply(Pruned, pruned)


@router.post(
    "/v1/media/prune",
    **operation(
        "admin",
        "Remove old media copies now",
        "Removes the copies of renders older than `media.retention_days` from the media"
        " store, as the media worker does hourly.",
        {
            200: answer("Removed.", MediaPruned),
            503: answer("The media store cannot be reached.", ErrorAnswer),
        },
    ),
)
async def prune_media(storage: Storage, settings: MediaSection, log: Logged) -> Response:
    try:
        pruned = await asyncio.to_thread(storage.opened().prune, settings.retention_days)
    except MediaStoreError as exc:
        log.warning("media.store_unavailable", reason=str(exc))
        raise StoreError("the media store cannot be reached") from None
    return reply(MediaPruned, {**pruned._asdict(), "retention_days": settings.retention_days})
