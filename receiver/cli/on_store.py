"""What the operator's commands read and do on the store itself, asked with --store: for
recovery when no relay runs, with the relay's config file. Each answers as the relay's API
answers (the same models), so that a command prints the one way whichever it used; what
changes something calls the operation the admin API and the console call
(receiver/deliveries/actions.py), and a running relay sends what it queued. Each says on
stderr that it went to the store."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from receiver.cli.common import fail, not_found, settings_of
from receiver.cli.offline import with_downstream, with_parts, with_store
from receiver.cli.reach import said, shown_store
from receiver.kernel.errors import ConfigError

if TYPE_CHECKING:
    from receiver.downstreams.directory import Directory
    from receiver.kernel.store import Store
    from receiver.outbox.rules.delivery import Delivery
    from receiver.wiring.worker_parts import WorkerParts

Named = Callable[[str], str]


def _said(config_path: str | None) -> None:
    url = shown_store(settings_of(config_path).storage.url)
    said(f"on the store at {url}, not through a relay")


def task_list(config_path: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
    from receiver.kernel.http.models import as_answer
    from receiver.lifecycle.rules.records import TaskFilter
    from receiver.tasks import reads as task_reads
    from receiver.tasks.rules.answers import TaskSummary

    wanted = TaskFilter(state=state, limit=limit)
    found = with_store(config_path, lambda s: task_reads.task_list(s, wanted))
    _said(config_path)
    return [as_answer(TaskSummary, t) for t in found]


def task(config_path: str | None, task_id: str) -> tuple[dict[str, Any], Named]:
    """The task with its history, as `GET /v1/tasks/{id}` answers it; exit 1 when there is
    none."""
    from receiver.downstreams import names
    from receiver.tasks import reads as task_reads
    from receiver.tasks.detail import detail_answer
    from receiver.tasks.reads import TaskHistory

    async def read(store: Store) -> tuple[TaskHistory | None, dict[str, str]]:
        # The newest events' documents say where the copies are and why it failed.
        found = await task_reads.task_detail(store, task_id, 20)
        kept = [d.downstream for d in found.deliveries] if found else []
        return found, await names.shown_names(store, kept)

    detail, shown = with_store(config_path, read)
    if detail is None:
        not_found(f"no task {task_id}")
    _said(config_path)
    return detail_answer(detail), lambda kept: shown.get(kept, kept)


def deliveries(
    config_path: str | None, state: str | None, downstream: str | None, limit: int
) -> tuple[list[dict[str, Any]], Named]:
    """The newest deliveries; an unknown `downstream` is one line, exit 1."""
    from receiver.deliveries import reads as delivery_reads
    from receiver.downstreams import names
    from receiver.downstreams import transactions as downstream_transactions
    from receiver.kernel.errors import NotFound
    from receiver.kernel.http.models import as_answer
    from receiver.outbox.rules.delivery import DeliveryFilter, is_task_webhook
    from receiver.tasks.rules.answers import DeliverySummary

    configured = {d.name for d in settings_of(config_path).downstream}

    async def read(store: Store) -> tuple[list[Delivery], dict[str, str]] | str:
        kept = None
        if downstream is not None:
            try:
                kept = await names.kept_name(store, downstream)
            except NotFound as exc:
                return exc.detail
        found = await delivery_reads.deliveries(store, DeliveryFilter(state, kept, limit=limit))
        if kept is not None and not found:
            # Nothing for it: say so when there is no such downstream, not an empty table.
            made = await downstream_transactions.made_named(store, [kept])
            if kept not in configured and not made and not is_task_webhook(kept):
                meant = await names.also_named(store, kept)
                hint = f" (an app's is named APP/NAME: {', '.join(meant)})" if meant else ""
                return f"no downstream named {downstream!r}{hint}"
        return found, await names.shown_names(store, [d.downstream for d in found])

    answer = with_store(config_path, read)
    if isinstance(answer, str):
        not_found(answer)
    found, shown = answer
    _said(config_path)
    return [as_answer(DeliverySummary, d) for d in found], lambda kept: shown.get(kept, kept)


def replay_dead_letters(config_path: str | None, downstream: str) -> tuple[int, str]:
    from receiver.deliveries import actions as delivery_actions

    replayed = with_downstream(config_path, downstream, delivery_actions.replay_dead_letters)
    _said(config_path)
    return replayed


def replay(config_path: str | None, ids: list[str]) -> int:
    from receiver.deliveries import actions as delivery_actions

    count = with_parts(config_path, lambda p, _: delivery_actions.replay_deliveries(p, ids))
    _said(config_path)
    return count


def downstreams(config_path: str | None) -> tuple[list[dict[str, Any]], Named]:
    """Each downstream's health, the config file's and those made through the API, as the
    API's list has its fields, with whether it is read by pull (`pulled`)."""
    from receiver.config.downstream import read_by_pull
    from receiver.downstreams import names
    from receiver.downstreams import transactions as downstream_transactions
    from receiver.downstreams.directory import health_of
    from receiver.downstreams.rows import DownstreamHealth

    configured = {d.name: d.pulled for d in settings_of(config_path).downstream}

    async def every(store: Store) -> tuple[list[DownstreamHealth], dict[str, str]]:
        made = await downstream_transactions.made_names(store)  # none opened
        found = await downstream_transactions.health(store, [*configured, *made])
        return found, await names.shown_names(store, [h.name for h in found])

    found, shown = with_store(config_path, every)
    _said(config_path)
    # Read by pull: the config file says, or the format of the row (never sealed).
    pulled = {
        h.name: configured.get(h.name, bool(h.format) and read_by_pull(h.format)) for h in found
    }
    listed = [
        {**h.summary(), "health": health_of(h, pulled[h.name]), "pulled": pulled[h.name]}
        for h in found
    ]
    return listed, lambda kept: shown.get(kept, kept)


async def _told_while_sealed(parts: WorkerParts, directory: Directory, kept: str) -> str | None:
    """Disabling `kept` tells the downstreams that take `downstream.disabled`: one made
    through the API whose secret does not open here would have its notice held for it."""
    from receiver.downstreams.rows import DISABLED
    from receiver.outbox.rules.delivery import notified_of, owner_of

    audience = directory.subscribers
    told = await parts.store.read(lambda db: audience.of(db, owner_of(kept)))
    held = {name: sub for name, sub in told.items() if sub.held}
    why = "downstreams made through the API take its notice, their secrets sealed"
    return why if notified_of(DISABLED, kept, held) else None


async def _sealed(parts: WorkerParts, directory: Directory, kept: str) -> str | None:
    """Enabling one made through the API queues its rows as its sealed secret allows."""
    held = await directory.held(kept)
    return "made through the API, its secret sealed" if held is not None else None


def disable(config_path: str | None, name: str) -> tuple[bool, str]:
    from receiver.deliveries import actions as delivery_actions

    changed = with_downstream(
        config_path, name, delivery_actions.disable_downstream, _told_while_sealed
    )
    _said(config_path)
    return changed


def enable(config_path: str | None, name: str, recover_since: float | None) -> tuple[int, str]:
    """Enabled, what it missed queued: how many, and its name as people read it."""
    from receiver.deliveries import actions as delivery_actions

    unopened: list[bool] = []

    async def enable(parts: WorkerParts, directory: Directory, kept: str) -> int:
        unopened.append(await directory.held(kept) is not None)
        return await delivery_actions.enable_downstream(parts, directory, kept, recover_since)

    queued, shown_name = with_downstream(config_path, name, enable, _sealed)
    _said(config_path)
    if unopened[0]:
        # Only with a relay's secret set (else refused): one that is not the relay's, or
        # the key it was sealed under is gone.
        click.echo(
            f"{shown_name}: its secret does not open with the relay's secret set here: what"
            " was queued waits held until it does",
            err=True,
        )
    return queued, shown_name


def media_prune(config_path: str | None) -> dict[str, Any]:
    """The copies past media.retention_days removed, as `POST /v1/media/prune` answers."""
    from receiver.media.storage.local import open_media_store

    settings = settings_of(config_path).media
    try:
        pruned = open_media_store(settings).prune(settings.retention_days)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    _said(config_path)
    return {**pruned._asdict(), "retention_days": settings.retention_days}


def prune(config_path: str | None, dry_run: bool) -> dict[str, Any]:
    """Retention's walk now (or what it would remove), as `POST /v1/retention/prune`
    answers it."""
    from receiver.retention import worker as retention
    from receiver.retention.rules import pages_to_free

    settings = settings_of(config_path)
    policy = retention.policy_of(settings.retention)

    async def run(store: Store) -> tuple[dict[str, int] | None, int]:
        if dry_run:
            return await retention.preview(store, policy), 0
        owner = f"cli:{os.uname().nodename}:{os.getpid()}"
        removed = await retention.prune(store, policy, owner)
        if removed is None:
            return None, 0
        return removed, await store.reclaim_space(removed["tasks"], pages_to_free)

    removed, given_back = with_store(config_path, run)
    if removed is None:
        fail("another process is pruning now; try again when it is done")
    _said(config_path)
    return {
        "removed": removed,
        "task_days": policy.task_days,
        "dry_run": dry_run,
        "bytes_given_back": given_back,
    }
