"""The operator's commands on a relay's state: tasks and deliveries to look at, deliveries
to replay, downstreams to list, disable and enable, old media copies to prune. Each goes
through the running relay's API (reach.py), or, asked with --store, works on the store
itself (on_store.py), and prints what it found the one way. Each imports what it uses when
it runs, so that its help stays lean."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from receiver.cli.common import ChoiceOf, LazyGroup, fail, moment, not_found
from receiver.cli.reach import (
    every_downstream,
    kept_name,
    on_store,
    shown_names,
    store_options,
    through_relay,
)
from receiver.cli.remote import RemoteError
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

if TYPE_CHECKING:
    from receiver.cli.relay import Relay


def _given(**params: Any) -> dict[str, Any]:
    """A query's parameters, those not given left out."""
    return {k: v for k, v in params.items() if v is not None}


@click.group()
def tasks() -> None:
    """List tasks, or show one with its history."""


@tasks.command("list")
@store_options
@click.option("--state", type=ChoiceOf("receiver.lifecycle.rules.task:STATES"))
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per task.")
def tasks_list(
    url: str,
    on_store_asked: bool,
    config_path: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest tasks."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        found = store.task_list(config_path, state, limit)
    else:
        with through_relay(url, app_key=True) as relay:
            wanted = _given(state=state, limit=limit)
            found = relay.call("GET", "/v1/tasks", params=wanted)["tasks"]
    if as_json:
        for t in found:
            click.echo(json.dumps(t))
        return
    headers = [
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
    ]
    rows = [
        [
            t["id"],
            t["kind"],
            t["state"],
            t["app"],
            t["queue_position"],
            t["submit_attempts"],
            share(t["progress"]),
            when(t["created_at"]),
            len(t["outputs"]),
            short(t["prompt"], 40),
        ]
        for t in found
    ]
    click.echo(table(headers, rows))


# The task's history, printed in tables of its own after its fields.
_HISTORY = ("request", "media", "events", "deliveries", "attempts", "submits")


def _overview(detail: dict[str, Any]) -> dict[str, object]:
    """The task's fields as `tasks show` prints them: the relay's copies of the renders as
    its outputs when it made them (CometAPI's links expire), then CometAPI's; and, once it
    failed, the failure code and the message safe to show an end user."""
    failure = {k: detail.get(k) for k in ("failure_code", "failure_message")}
    fields = {k: v for k, v in detail.items() if k not in (*_HISTORY, *failure)}
    media = detail.get("media") or {}
    files = media.get("files") if media.get("status") == "mirrored" else None
    copies = [f["url"] for f in files or [] if isinstance(f, dict) and f.get("url")]
    outputs = " ".join(detail.get("outputs") or []) or None
    if copies:
        fields["outputs"] = " ".join(copies)
        fields["cometapi links"] = outputs
    else:
        fields["outputs"] = outputs
    if detail.get("state") == "failed":
        fields.update(failure)
    return fields


@tasks.command("show")
@store_options
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="The task, its events and deliveries.")
def tasks_show(
    url: str, on_store_asked: bool, config_path: str | None, task_id: str, as_json: bool
) -> None:
    """One task with its history."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        detail, name = store.task(config_path, task_id)
    else:
        with through_relay(url, app_key=True) as relay:
            try:
                detail = relay.call("GET", f"/v1/tasks/{quote(task_id, safe='')}")
            except RemoteError as exc:
                if exc.status == 404:
                    not_found(f"no task {task_id}")
                raise
            name = _names_of(relay, detail["deliveries"])
    if as_json:
        click.echo(json.dumps(detail, indent=2))
        return
    for key, value in _overview(detail).items():
        click.echo(f"{key:>16}: {shown(key, value)}")
    sends = [
        [
            a["number"],
            when(a["started_at"]),
            a["status"],
            a["outcome"],
            when(a["retry_at"]),
            short(a["error"], 60),
        ]
        for a in detail["submits"]
    ]
    click.echo("\nsends to CometAPI")
    click.echo(table(["attempt", "started", "status", "outcome", "next try", "error"], sends))
    events = [
        [
            e["id"],
            e["source"],
            e["state"],
            e["upstream_status"],
            e["applied"],
            e["verdict"],
            when(e["received_at"]),
        ]
        for e in detail["events"]
    ]
    click.echo("\nevents")
    headers = ["id", "source", "state", "upstream status", "applied", "verdict", "received"]
    click.echo(table(headers, events))
    click.echo("\ndeliveries")
    click.echo(deliveries_table(detail["deliveries"], name))


def _names_of(relay: Relay, deliveries: list[dict[str, Any]]) -> Callable[[str], str]:
    """How the deliveries' downstreams are shown: an app's `APP/NAME`, read from the list
    only when one of them is an app's (kept as `<app id>.NAME`)."""
    if not any("." in str(d["downstream"]) for d in deliveries):
        return str
    return shown_names(every_downstream(relay))


@click.group()
def deliveries() -> None:
    """List deliveries: one an event and downstream."""


@deliveries.command("list")
@store_options
@click.option("--state", type=ChoiceOf("receiver.outbox.rules.delivery:DELIVERY_STATES"))
@click.option("--downstream", help="Only this one's (an app's: APP/NAME).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def deliveries_list(
    url: str,
    on_store_asked: bool,
    config_path: str | None,
    state: str | None,
    downstream: str | None,
    limit: int,
) -> None:
    """The newest deliveries; an unknown --downstream is an error."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        found, name = store.deliveries(config_path, state, downstream, limit)
    else:
        with through_relay(url, app_key=True) as relay:
            listed = every_downstream(relay) if downstream else []
            kept = kept_name(listed, downstream) if downstream else None
            wanted = _given(state=state, downstream=kept, limit=limit)
            found = relay.call("GET", "/v1/deliveries", params=wanted)["deliveries"]
            name = shown_names(listed) if listed else _names_of(relay, found)
    click.echo(deliveries_table(found, name))


@click.command()
@store_options
@click.argument("delivery_ids", nargs=-1)
@click.option("--dead-letters-of", "downstream", help="Replay every dead letter of a downstream.")
def replay(
    url: str,
    on_store_asked: bool,
    config_path: str | None,
    delivery_ids: tuple[str, ...],
    downstream: str | None,
) -> None:
    """Queue deliveries, or a downstream's dead letters, again."""
    if bool(delivery_ids) == bool(downstream):
        fail("give delivery ids or --dead-letters-of DOWNSTREAM (one of the two)")
    if downstream:
        count, name = _replay_dead_letters(
            url, on_store(on_store_asked, config_path), config_path, downstream
        )
        click.echo(f"{name}: queued {counted(count, 'dead letter', 'dead letters')} for replay")
        return
    ids = list(dict.fromkeys(delivery_ids))
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        count = store.replay(config_path, ids)
    else:
        count = 0
        with through_relay(url, app_key=True) as relay:
            for one in ids:
                try:
                    path = f"/v1/deliveries/{quote(one, safe='')}/replay"
                    count += relay.call("POST", path)["replayed"]
                except RemoteError as exc:
                    if exc.status != 404:
                        raise
    click.echo(f"queued {counted(count, 'delivery', 'deliveries')} for replay")
    if count < len(ids):
        missing = len(ids) - count
        not_found(
            f"{missing} of the ids given is no delivery"
            if missing == 1
            else f"{missing} of the ids given are no deliveries"
        )


def _replay_dead_letters(
    url: str, store_asked: bool, config_path: str | None, downstream: str
) -> tuple[int, str]:
    """Every dead letter of `downstream` queued again: how many, and its name."""
    if store_asked:
        from receiver.cli import on_store as store

        return store.replay_dead_letters(config_path, downstream)
    with through_relay(url, app_key=True) as relay:
        kept = kept_name(every_downstream(relay), downstream)
        done = relay.call("POST", "/v1/deliveries/replay", params={"downstream": kept})
    return int(done["replayed"]), downstream


# The commands that change what a downstream is, through a running relay (managed.py), as
# main.py's table names commands.
_THROUGH_RELAY = {
    "create": (
        "receiver.cli.managed:create",
        "Make downstream NAME; prints its secret, this once.",
    ),
    "change": (
        "receiver.cli.managed:change",
        "Change downstream NAME (one made through the API).",
    ),
    "rotate": (
        "receiver.cli.managed:rotate",
        "A new secret for NAME; the old one signs too, for a while.",
    ),
    "remove": (
        "receiver.cli.managed:remove",
        "Remove NAME; its waiting deliveries end as dead letters.",
    ),
    "validate": (
        "receiver.cli.managed:validate",
        "Ask NAME's endpoint again whether it takes CloudEvents.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=_THROUGH_RELAY,
    sections={
        "Through a running relay only (RECEIVER_URL, RECEIVER_ADMIN_TOKEN)": tuple(_THROUGH_RELAY),
        "Through a running relay, or the store with --store": ("list", "disable", "enable"),
    },
)
def downstreams() -> None:
    """Downstreams: health, disable, enable, make, change.

    See each downstream's health; disable one, or enable it and recover what it missed;
    make, change, rotate the secret of and remove downstreams."""


@downstreams.command("list")
@store_options
def downstreams_list(url: str, on_store_asked: bool, config_path: str | None) -> None:
    """Each downstream's health (an app's as APP/NAME)."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        found, name = store.downstreams(config_path)
    else:
        from receiver.cli.managed import pulled

        with through_relay(url, app_key=True) as relay:
            listed = every_downstream(relay)
        name = shown_names(listed)
        found = [{**d, "pulled": pulled(str(d.get("format", "")))} for d in listed]
    click.echo(downstreams_table(found, name))


def _acted(url: str, typed: str, action: str, params: dict[str, Any] | None = None) -> Any:
    """`action` (a route under the downstream) on the one `typed` names, through the relay."""
    with through_relay(url, app_key=True) as relay:
        kept = kept_name(every_downstream(relay), typed) if "/" in typed else typed
        path = f"/v1/downstreams/{quote(kept, safe='')}/{action}"
        try:
            return relay.call("POST", path, params=params or {})
        except RemoteError as exc:
            if exc.status == 404:
                # Said with the apps' downstreams of that name, which it may have meant.
                kept_name([d for d in every_downstream(relay) if d.get("app")], typed)
                not_found(f"no downstream named {typed!r}")
            raise


@downstreams.command("disable")
@store_options
@click.argument("name")
def downstreams_disable(url: str, on_store_asked: bool, config_path: str | None, name: str) -> None:
    """Stop attempting NAME; its deliveries are held.

    NAME is an app's as APP/NAME. Its deliveries are held until it is enabled."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        changed, name = store.disable(config_path, name)
    else:
        changed = _acted(url, name, "disable")["changed"]
    click.echo(f"{name}: disabled" if changed else f"{name}: was disabled already")


@downstreams.command("enable")
@store_options
@click.argument("name")
@click.option(
    "--recover-since",
    callback=moment,
    help="Queue again what failed or was held since then (epoch seconds, RFC 3339, UTC"
    " unless it says, or a while ago: 2h); default: all it held.",
)
def downstreams_enable(
    url: str, on_store_asked: bool, config_path: str | None, name: str, recover_since: float | None
) -> None:
    """Attempt NAME again, and queue what it missed.

    NAME is an app's as APP/NAME; a running relay sends what was queued."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        queued, name = store.enable(config_path, name, recover_since)
    else:
        since = _given(recover_since=recover_since)
        queued = _acted(url, name, "enable", since)["queued"]
    click.echo(f"{name}: enabled; {counted(queued, 'delivery', 'deliveries')} queued")


@click.group()
def media() -> None:
    """The copies of finished renders ([media])."""


@media.command("prune")
@store_options
def media_prune(url: str, on_store_asked: bool, config_path: str | None) -> None:
    """Remove copies older than media.retention_days.

    The media worker also does, hourly."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        pruned = store.media_prune(config_path)
    else:
        with through_relay(url) as relay:
            pruned = relay.call("POST", "/v1/media/prune", timeout=None)
    click.echo(
        f"removed {counted(pruned['files'], 'file', 'files')}, {pruned['bytes']} bytes, older"
        f" than {pruned['retention_days']:g} days; {pruned['kept_bytes']} bytes kept"
    )
