"""The operator's tools over the store, with the relay's config file, the relay running or
not: tasks and deliveries to look at, deliveries to replay, downstreams to disable and
enable, old media copies to prune. What changes something calls the operation the admin
API and the console call (receiver/deliveries/actions.py); a running relay sends what it
queued. Each command imports the store's side when it runs, so that its help stays lean."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from receiver.cli.common import (
    ChoiceOf,
    LazyGroup,
    config_option,
    fail,
    moment,
    not_found,
    settings_of,
)
from receiver.cli.tables import (
    counted,
    deliveries_table,
    downstreams_table,
    share,
    short,
    shown,
    table,
    when,
)
from receiver.kernel.errors import ConfigError

if TYPE_CHECKING:
    from receiver.deliveries.rules.delivery import Delivery
    from receiver.downstreams.directory import Directory
    from receiver.downstreams.rows import DownstreamHealth
    from receiver.kernel.store import Store
    from receiver.tasks.reads import TaskHistory
    from receiver.wiring.worker_parts import WorkerParts


@click.group()
def tasks() -> None:
    """Inspect stored tasks."""


@tasks.command("list")
@config_option
@click.option("--state", type=ChoiceOf("receiver.lifecycle.rules.task:STATES"))
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per task.")
def tasks_list(config_path: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """The newest tasks, from the store."""
    from receiver.cli.offline import with_store
    from receiver.kernel.http.models import as_answer
    from receiver.lifecycle.rules.records import TaskFilter
    from receiver.tasks import reads as task_reads
    from receiver.tasks.rules.answers import TaskSummary

    found = with_store(
        config_path, lambda s: task_reads.task_list(s, TaskFilter(state=state, limit=limit))
    )
    if as_json:
        for t in found:
            click.echo(json.dumps(as_answer(TaskSummary, t)))
        return
    click.echo(
        table(
            [
                "id",
                "kind",
                "state",
                "app",
                "in line",
                "sends",
                "progress",
                "created",
                "outputs",
                "prompt",
            ],
            [
                [
                    t.id,
                    t.kind,
                    t.state,
                    t.app,
                    t.queue_position,
                    t.submit_attempts,
                    share(t.progress),
                    when(t.created_at),
                    len(t.outputs),
                    short(t.prompt, 40),
                ]
                for t in found
            ],
        )
    )


def _overview(detail: TaskHistory) -> dict[str, object]:
    """The task's fields as `tasks show` prints them: the relay's copies of the renders as
    its outputs when it made them (CometAPI's links expire), then CometAPI's; and, once it
    failed, the failure code and the message safe to show an end user."""
    from receiver.kernel.http.models import as_answer
    from receiver.tasks.rules.answers import TaskSummary

    fields: dict[str, object] = as_answer(TaskSummary, detail.task)
    copies = detail.copies()
    if copies:
        fields["outputs"] = " ".join(copies)
        fields["cometapi links"] = " ".join(detail.task.outputs)
    elif isinstance(fields.get("outputs"), list):
        fields["outputs"] = " ".join(detail.task.outputs) or None
    if detail.task.state == "failed":
        fields.update(detail.failure())
    return fields


@tasks.command("show")
@config_option
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="The task, its events and deliveries.")
def tasks_show(config_path: str | None, task_id: str, as_json: bool) -> None:
    """One task with its history, from the store."""
    from receiver.cli.offline import with_store
    from receiver.downstreams import names
    from receiver.tasks import reads as task_reads
    from receiver.tasks.detail import detail_answer

    async def read(store: Store) -> tuple[TaskHistory | None, dict[str, str]]:
        # The newest events' documents say where the copies are and why it failed.
        found = await task_reads.task_detail(store, task_id, 20)
        kept = [d.downstream for d in found.deliveries] if found else []
        return found, await names.shown_names(store, kept)

    detail, downstream_names = with_store(config_path, read)
    if detail is None:
        not_found(f"no task {task_id}")
    if as_json:
        click.echo(json.dumps(detail_answer(detail), indent=2))
        return
    for key, value in _overview(detail).items():
        click.echo(f"{key:>16}: {shown(key, value)}")
    sends = [
        [a.number, when(a.started_at), a.status, a.outcome, when(a.retry_at), short(a.error, 60)]
        for a in detail.sends
    ]
    click.echo("\nsends to CometAPI")
    click.echo(table(["attempt", "started", "status", "outcome", "next try", "error"], sends))
    events = [
        [e.id, e.source, e.state, e.upstream_status, e.applied, e.verdict, when(e.received_at)]
        for e in detail.events
    ]
    click.echo("\nevents")
    headers = ["id", "source", "state", "upstream status", "applied", "verdict", "received"]
    click.echo(table(headers, events))
    click.echo("\ndeliveries")
    click.echo(deliveries_table(detail.deliveries, downstream_names))


@click.group()
def deliveries() -> None:
    """Inspect the delivery outbox."""


@deliveries.command("list")
@config_option
@click.option("--state", type=ChoiceOf("receiver.deliveries.rules.delivery:DELIVERY_STATES"))
@click.option("--downstream", help="Only this one's (an app's: APP/NAME).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def deliveries_list(
    config_path: str | None, state: str | None, downstream: str | None, limit: int
) -> None:
    """The newest deliveries, from the store; an unknown --downstream is an error."""
    from receiver.cli.offline import with_store
    from receiver.deliveries import reads as delivery_reads
    from receiver.deliveries.rules.delivery import TASK_WEBHOOK, DeliveryFilter
    from receiver.downstreams import names
    from receiver.downstreams import transactions as downstream_transactions
    from receiver.kernel.errors import NotFound

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
            made = {row.name for row in await downstream_transactions.made(store)}
            if kept not in configured | made | {TASK_WEBHOOK}:
                meant = await names.also_named(store, kept, made)
                hint = f" (an app's is named APP/NAME: {', '.join(meant)})" if meant else ""
                return f"no downstream named {downstream!r}{hint}"
        return found, await names.shown_names(store, [d.downstream for d in found])

    answer = with_store(config_path, read)
    if isinstance(answer, str):
        not_found(answer)
    click.echo(deliveries_table(*answer))


@click.command()
@config_option
@click.argument("delivery_ids", nargs=-1)
@click.option("--dead-letters-of", "downstream", help="Replay every dead letter of a downstream.")
def replay(config_path: str | None, delivery_ids: tuple[str, ...], downstream: str | None) -> None:
    """Queue deliveries for an immediate new attempt (a running service sends them)."""
    from receiver.cli.offline import with_downstream, with_parts
    from receiver.deliveries import actions as delivery_actions

    if bool(delivery_ids) == bool(downstream):
        fail("give delivery ids or --dead-letters-of DOWNSTREAM (one of the two)")
    if downstream:
        count, name = with_downstream(config_path, downstream, delivery_actions.replay_dead_letters)
        click.echo(f"{name}: queued {counted(count, 'dead letter', 'dead letters')} for replay")
        return
    ids = list(delivery_ids)
    count = with_parts(config_path, lambda p, _: delivery_actions.replay_deliveries(p, ids))
    click.echo(f"queued {counted(count, 'delivery', 'deliveries')} for replay")
    if count < len(set(delivery_ids)):
        missing = len(set(delivery_ids)) - count
        not_found(
            f"{missing} of the ids given is no delivery"
            if missing == 1
            else f"{missing} of the ids given are no deliveries"
        )


# The commands that ask a running relay (managed.py), as main.py's table names commands.
_THROUGH_RELAY = {
    "create": (
        "receiver.cli.managed:create",
        "Make downstream NAME, delivering to URL; prints its secret, this once.",
    ),
    "change": (
        "receiver.cli.managed:change",
        "Change downstream NAME (one made through the API).",
    ),
    "rotate": (
        "receiver.cli.managed:rotate",
        "A new secret for NAME; the old one still signs, beside it, for the overlap.",
    ),
    "remove": (
        "receiver.cli.managed:remove",
        "Remove NAME: what it still had to deliver ends as dead letters.",
    ),
    "validate": (
        "receiver.cli.managed:validate",
        "Ask NAME's endpoint again whether it allows the relay's CloudEvents.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=_THROUGH_RELAY,
    sections={
        "Through a running relay (RECEIVER_URL, RECEIVER_ADMIN_TOKEN)": tuple(_THROUGH_RELAY),
        "On the store (--config, or RECEIVER__STORAGE__URL)": ("list", "disable", "enable"),
    },
)
def downstreams() -> None:
    """See each downstream's health; disable one, or enable it and recover what it missed;
    make, change, rotate the secret of and remove downstreams through a running relay."""


@downstreams.command("list")
@config_option
def downstreams_list(config_path: str | None) -> None:
    """Each downstream's health: the config file's, and those made through the API (an
    app's as APP/NAME)."""
    from receiver.cli.offline import with_store
    from receiver.downstreams import names
    from receiver.downstreams import transactions as downstream_transactions
    from receiver.downstreams.directory import stand_in

    configured = settings_of(config_path).downstream
    pulled = {d.name: d.pulled for d in configured}

    async def every(store: Store) -> tuple[list[DownstreamHealth], dict[str, str]]:
        for row in await downstream_transactions.made(store):
            settings = stand_in(row)
            pulled[row.name] = settings is not None and settings.pulled
        found = await downstream_transactions.health(store, [*pulled])
        return found, await names.shown_names(store, [h.name for h in found])

    found, shown_names = with_store(config_path, every)
    read_by_pull = {name for name, is_pulled in pulled.items() if is_pulled}
    click.echo(
        downstreams_table(found, read_by_pull, name=lambda kept: shown_names.get(kept, kept))
    )


def _told_while_sealed(directory: Directory, kept: str) -> str | None:
    """Disabling `kept` tells the downstreams that take `downstream.disabled`: one made
    through the API whose secret does not open here would have its notice held for it."""
    from receiver.deliveries.rules.delivery import notified_of
    from receiver.downstreams.rows import DISABLED

    subscriptions = directory.subscriptions
    sealed = [n for n in notified_of(DISABLED, kept, subscriptions) if subscriptions[n].held]
    why = "downstreams made through the API take its notice, their secrets sealed"
    return why if sealed else None


def _sealed(directory: Directory, kept: str) -> str | None:
    """Enabling one made through the API queues its rows as its sealed secret allows."""
    return "made through the API, its secret sealed" if kept in directory.unusable else None


@downstreams.command("disable")
@config_option
@click.argument("name")
def downstreams_disable(config_path: str | None, name: str) -> None:
    """Stop attempting NAME (an app's: APP/NAME): its deliveries are held until it is
    enabled."""
    from receiver.cli.offline import with_downstream
    from receiver.deliveries import actions as delivery_actions

    changed, shown_name = with_downstream(
        config_path, name, delivery_actions.disable_downstream, _told_while_sealed
    )
    click.echo(f"{shown_name}: disabled" if changed else f"{shown_name}: was disabled already")


@downstreams.command("enable")
@config_option
@click.argument("name")
@click.option(
    "--recover-since",
    callback=moment,
    help="Queue again what failed or was held since then (epoch seconds or ISO 8601, UTC"
    " unless it says); default: all it held.",
)
def downstreams_enable(config_path: str | None, name: str, recover_since: float | None) -> None:
    """Attempt NAME (an app's: APP/NAME) again, and queue what it missed (a running
    service sends it)."""
    from receiver.cli.offline import with_downstream
    from receiver.deliveries import actions as delivery_actions

    unopened: list[bool] = []

    async def enable(parts: WorkerParts, directory: Directory, kept: str) -> int:
        unopened.append(kept in directory.unusable)
        return await delivery_actions.enable_downstream(parts, directory, kept, recover_since)

    queued, shown_name = with_downstream(config_path, name, enable, _sealed)
    click.echo(f"{shown_name}: enabled; {counted(queued, 'delivery', 'deliveries')} queued")
    if unopened[0]:
        # Only with a relay's secret set (else refused): one that is not the relay's, or
        # the key it was sealed under is gone.
        click.echo(
            f"{shown_name}: its secret does not open with the relay's secret set here: what"
            " was queued waits held until it does",
            err=True,
        )


@click.group()
def media() -> None:
    """The copies of finished renders (the [media] section)."""


@media.command("prune")
@config_option
def media_prune(config_path: str | None) -> None:
    """Remove copies older than media.retention_days (the worker also does, hourly)."""
    from receiver.media.storage.local import open_media_store

    settings = settings_of(config_path).media
    try:
        pruned = open_media_store(settings).prune(settings.retention_days)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    click.echo(
        f"removed {counted(pruned.files, 'file', 'files')}, {pruned.bytes} bytes, older than"
        f" {settings.retention_days:g} days; {pruned.kept_bytes} bytes kept"
    )
