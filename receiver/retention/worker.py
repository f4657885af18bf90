"""The retention worker: ended tasks go after `retention.task_days`, a small batch at a time,
on one replica at a time, and a SQLite file then gives the freed space back.

Each batch is one short transaction (receiver/retention/rows.py); between two, the
worker pauses as long as the batch took, so that however much there is to remove, the
callbacks queued behind it wait for one batch at most. The prune's lease row keeps a
second replica out while one prunes; a replica that dies mid-way leaves it to expire.
The copies of renders have their own retention (`media.retention_days`, the mirror worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable

from receiver.config import RetentionConfig
from receiver.kernel.observability.logs import Log
from receiver.kernel.observability.metrics import Metrics
from receiver.kernel.store import Store
from receiver.retention import transactions as pruning
from receiver.retention.rows import PruneStep
from receiver.retention.rules import KINDS, START, Cursor, RetentionPolicy, pages_to_free
from receiver.wiring.worker_parts import WorkerParts

LEASE_SECONDS = 60.0  # renewed at every batch; a dead replica's lease runs out after this
_PAUSE = (0.005, 1.0)  # the pause between batches, as long as the batch took, within these


def policy_of(settings: RetentionConfig) -> RetentionPolicy:
    return RetentionPolicy(settings.task_days, settings.dead_letter_days, settings.tasks_per_batch)


async def prune(
    store: Store,
    policy: RetentionPolicy,
    owner: str,
    metrics: Metrics | None = None,
    stopping: Callable[[], bool] = lambda: False,
    log: Log | None = None,
) -> dict[str, int] | None:
    """One walk over the ended tasks, deleting what the rules let go; what it removed by
    kind, or None when another replica holds the prune's lease. A batch that fails is
    taken again one task at a time, and the tasks that fail on their own are stepped over,
    counted and logged: they are tried again at the next walk, never holding the rest."""
    removed: Counter[str] = Counter()
    cursor = START
    held = False
    try:
        while not stopping():
            started = time.monotonic()
            step = await _step(store, policy, cursor, owner, metrics, log)
            if step is None:
                return None
            held = True
            removed.update(step.removed)
            if metrics is not None:
                for kind, count in step.removed.items():
                    metrics.pruned.labels(kind).inc(count)
            if step.batch.last:
                break
            cursor = step.batch.cursor
            took = time.monotonic() - started
            await asyncio.sleep(min(max(took, _PAUSE[0]), _PAUSE[1]))
    finally:
        if held:
            await pruning.release(store, owner)
    return {kind: removed[kind] for kind in KINDS}


async def _step(
    store: Store,
    policy: RetentionPolicy,
    cursor: Cursor,
    owner: str,
    metrics: Metrics | None,
    log: Log | None,
) -> PruneStep | None:
    try:
        return await pruning.step(store, policy, cursor, owner, LEASE_SECONDS)
    except Exception:
        each = await pruning.step_each(store, policy, cursor, owner, LEASE_SECONDS)
    if each is None:
        return None
    step, stuck = each
    for task_id, exc in stuck.items():
        if metrics is not None:
            metrics.item_failures.labels("retention").inc()
        if log is not None:
            log.error("retention.item_stuck", task_id=task_id, error=type(exc).__name__)
    return step


async def preview(store: Store, policy: RetentionPolicy) -> dict[str, int]:
    """What a prune run now would remove, by kind; nothing is deleted."""
    removed: Counter[str] = Counter()
    cursor = START
    while True:
        step = await pruning.preview(store, policy, cursor)
        removed.update(step.removed)
        if step.batch.last:
            return {kind: removed[kind] for kind in KINDS}
        cursor = step.batch.cursor


async def prune_now(
    parts: WorkerParts, settings: RetentionConfig, dry_run: bool = False
) -> tuple[dict[str, int], int] | None:
    """A prune asked for now (`POST /v1/retention/prune`): what it removed by kind and the
    bytes given back to the file system; with `dry_run`, what it would remove. None when
    another replica is pruning."""
    policy = policy_of(settings)
    if dry_run:
        return await preview(parts.store, policy), 0
    removed = await prune(parts.store, policy, parts.owner, parts.metrics, log=parts.log)
    if removed is None:
        return None
    return removed, await parts.store.reclaim_space(removed["tasks"], pages_to_free)


class Retention:
    """What every worker stands on and the retention settings, given at start-up
    (receiver/app/build.py)."""

    def __init__(self, parts: WorkerParts, settings: RetentionConfig) -> None:
        self.store, self.metrics, self.log, self.owner = (
            parts.store,
            parts.metrics,
            parts.log,
            parts.owner,
        )
        self.settings = settings
        self.policy = policy_of(settings)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.once(stopping.is_set)
            except Exception:
                self.log.exception("retention.failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.prune_interval_seconds)

    async def once(self, stopping: Callable[[], bool]) -> None:
        started, log = time.monotonic(), self.log
        removed = await prune(self.store, self.policy, self.owner, self.metrics, stopping, log)
        if removed is None:
            log.debug("retention.skipped", reason="another replica is pruning")
            return
        given_back = await self.store.reclaim_space(removed["tasks"], pages_to_free, stopping)
        if not (removed["tasks"] or given_back):
            return
        log.info(
            "retention.pruned",
            seconds=round(time.monotonic() - started, 3),
            bytes_given_back=given_back,
            **removed,
        )
