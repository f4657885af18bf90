"""The `receiver` command: serve, simulate, demo, and operator tools over the store."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click

from receiver.config import CONFIG_ENV, Config, Settings, load, read_settings
from receiver.errors import ConfigError, StoreError
from receiver.persist import Store, TaskFilter, open_store

T = TypeVar("T")
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"TOML config file (default: ${CONFIG_ENV}, else built-in defaults).",
)


def _fail(message: str) -> NoReturn:
    click.echo(f"receiver: {message}", err=True)
    sys.exit(2)


@click.group()
@click.version_option(package_name="runway-relay")
def main() -> None:
    """Runway task relay: submit through CometAPI, receive callbacks, fan results out."""


def _load_to_run(config_path: str | None) -> Config:
    """The config of a long-running command, with its store reachable and logging set up."""
    from receiver.media.store import s3_keys
    from receiver.observability import logs

    media = None
    try:
        config = load(config_path)
        if config.settings.media.enabled and config.settings.media.store == "s3":
            media = s3_keys(config.settings.media, os.environ)
    except ConfigError as exc:
        _fail(f"config error: {exc}")
    # A database that is down is reported in one line here, not as a startup traceback.
    _with_store(config_path, Store.ping, migrate=False)
    logs.configure(config.settings.logging.level, [*config.log_secrets(), *(media or ())])
    return config


@main.command()
@_config_option
def serve(config_path: str | None) -> None:
    """Run the service (config from --config or $RECEIVER_CONFIG; $PORT overrides the port)."""
    from receiver import server
    from receiver.app import build_service, create_app

    config = _load_to_run(config_path)
    server.run(create_app(build_service(config)), config)


@main.command()
@_config_option
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT.",
)
def deliver(config_path: str | None, metrics_port: int | None) -> None:
    """Run only the fan-out, beside `receiver serve` with delivery.in_process = false."""
    from prometheus_client import start_http_server

    from receiver.app import build_service
    from receiver.delivery.process import deliver as run_deliveries

    config = _load_to_run(config_path)
    if config.settings.delivery.in_process:
        _fail(
            "config error: config key delivery.in_process: set it to false, so that"
            " `receiver serve` leaves the deliveries to this worker"
        )
    service = build_service(config)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1", registry=service.metrics.registry)
    run_deliveries(service)


@main.command()
def secret() -> None:
    """Print a fresh Standard Webhooks signing secret (whsec_...) for a downstream."""
    from receiver.delivery.sign import new_secret

    click.echo(new_secret())


@main.command()
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--api-key", default=None, help="Accept only this key (default: any).")
def simulate(port: int, host: str, api_key: str | None) -> None:
    """Run a local CometAPI simulator to develop against."""
    from receiver.devtools.simulator import run_simulator

    run_simulator(port, host=host, api_key=api_key)


@main.command()
def demo() -> None:
    """Run simulator, a downstream sink and the relay locally; show one task of each route."""
    from receiver.devtools.demo import run_demo

    sys.exit(run_demo())


def _settings(config_path: str | None) -> Settings:
    try:
        return read_settings(config_path or os.environ.get(CONFIG_ENV) or None)
    except ConfigError as exc:
        _fail(f"config error: {exc}")


def _store(config_path: str | None) -> Store:
    return open_store(_settings(config_path).storage.url)


def _with_store(
    config_path: str | None, fn: Callable[[Store], Awaitable[T]], migrate: bool = True
) -> T:
    async def run() -> T:
        store = _store(config_path)
        try:
            if migrate:
                await store.migrate()
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        _fail(f"storage error: {exc}")
        raise


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["-" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


@main.group()
def tasks() -> None:
    """Inspect stored tasks."""


@tasks.command("list")
@_config_option
@click.option(
    "--state", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"])
)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def tasks_list(config_path: str | None, state: str | None, limit: int) -> None:
    found = _with_store(config_path, lambda s: s.list_tasks(TaskFilter(state=state, limit=limit)))
    click.echo(
        table(
            ["id", "kind", "state", "upstream id", "created", "outputs"],
            [
                [t.id, t.kind, t.state, t.upstream_task_id, _when(t.created_at), len(t.outputs)]
                for t in found
            ],
        )
    )


@tasks.command("show")
@_config_option
@click.argument("task_id")
def tasks_show(config_path: str | None, task_id: str) -> None:
    async def fetch(store: Store) -> Any:
        task = await store.get_task(task_id)
        return task, (await store.task_history(task_id) if task else ([], []))

    task, (events, deliveries) = _with_store(config_path, fetch)
    if task is None:
        _fail(f"no task {task_id}")
    for key, value in task.summary().items():
        click.echo(f"{key:>16}: {value}")
    click.echo("\nevents")
    click.echo(
        table(
            ["id", "source", "state", "upstream status", "applied", "received"],
            [
                [e.id, e.source, e.state, e.upstream_status, e.applied, _when(e.received_at)]
                for e in events
            ],
        )
    )
    click.echo("\ndeliveries")
    _print_deliveries(deliveries)


def _print_deliveries(deliveries: Sequence[Any]) -> None:
    click.echo(
        table(
            [
                "id",
                "task",
                "downstream",
                "state",
                "attempts",
                "last status",
                "next attempt",
                "last error",
            ],
            [
                [
                    d.id,
                    d.task_id,
                    d.downstream,
                    d.state,
                    d.attempts,
                    d.last_status,
                    _when(d.next_attempt_at) if d.state == "pending" else "-",
                    (d.last_error or "")[:60],
                ]
                for d in deliveries
            ],
        )
    )


@main.group()
def deliveries() -> None:
    """Inspect the delivery outbox."""


@deliveries.command("list")
@_config_option
@click.option("--state", type=click.Choice(["pending", "succeeded", "dead"]))
@click.option("--downstream")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def deliveries_list(
    config_path: str | None, state: str | None, downstream: str | None, limit: int
) -> None:
    _print_deliveries(
        _with_store(config_path, lambda s: s.list_deliveries(state, downstream, None, limit))
    )


@main.command()
@_config_option
@click.argument("delivery_ids", nargs=-1)
@click.option("--dead-letters-of", "downstream", help="Replay every dead letter of a downstream.")
def replay(config_path: str | None, delivery_ids: tuple[str, ...], downstream: str | None) -> None:
    """Queue deliveries for an immediate new attempt (a running service sends them)."""
    if bool(delivery_ids) == bool(downstream):
        _fail("give delivery ids or --dead-letters-of DOWNSTREAM (one of the two)")
    if downstream:
        count = _with_store(config_path, lambda s: s.replay_dead_letters(downstream))
    else:
        count = _with_store(config_path, lambda s: s.replay(list(delivery_ids)))
    click.echo(f"queued {count} deliveries for replay")


@main.group()
def downstreams() -> None:
    """See each downstream's health; disable one, or enable it and recover what it missed."""


def _subscriptions(config_path: str | None) -> dict[str, frozenset[str]]:
    return {d.name: frozenset(d.events) for d in _settings(config_path).downstream}


def _known(config_path: str | None, name: str) -> dict[str, frozenset[str]]:
    subscriptions = _subscriptions(config_path)
    if name not in subscriptions:
        _fail(f"no downstream named {name!r} in the configuration")
    return subscriptions


@downstreams.command("list")
@_config_option
def downstreams_list(config_path: str | None) -> None:
    names = list(_subscriptions(config_path))
    found = _with_store(config_path, lambda s: s.downstream_health(names))
    click.echo(
        table(
            ["name", "state", "since", "reason", "failing since", "pending", "held", "dead"],
            [
                [
                    h.name,
                    "disabled" if h.disabled_at else h.breaker,
                    _when(h.disabled_at or h.breaker_changed_at),
                    h.disabled_reason,
                    _when(h.failing_since),
                    h.deliveries.get("pending", 0),
                    h.deliveries.get("held", 0),
                    h.deliveries.get("dead", 0),
                ]
                for h in found
            ],
        )
    )


@downstreams.command("disable")
@_config_option
@click.argument("name")
def downstreams_disable(config_path: str | None, name: str) -> None:
    """Stop attempting NAME: its deliveries are held until it is enabled."""
    subscriptions = _known(config_path, name)
    reason = "disabled by an operator"
    changed = _with_store(config_path, lambda s: s.disable_downstream(name, reason, subscriptions))
    click.echo(f"{name}: disabled" if changed else f"{name}: was disabled already")


@downstreams.command("enable")
@_config_option
@click.argument("name")
@click.option(
    "--recover-since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Queue again what failed or was held since then (UTC); default: all it held.",
)
def downstreams_enable(config_path: str | None, name: str, recover_since: datetime | None) -> None:
    """Attempt NAME again, and queue what it missed (a running service sends it)."""
    _known(config_path, name)
    since = recover_since.replace(tzinfo=UTC).timestamp() if recover_since else None
    queued = _with_store(config_path, lambda s: s.enable_downstream(name, since))
    click.echo(f"{name}: enabled; {queued} deliveries queued")


@main.group()
def media() -> None:
    """The copies of finished renders (the [media] section)."""


@media.command("prune")
@_config_option
def media_prune(config_path: str | None) -> None:
    """Remove copies older than media.retention_days (the worker also does, hourly)."""
    from receiver.media.store import open_media_store

    settings = _settings(config_path).media
    try:
        pruned = open_media_store(settings).prune(settings.retention_days)
    except ConfigError as exc:
        _fail(f"config error: {exc}")
    click.echo(
        f"removed {pruned.files} files, {pruned.bytes} bytes, older than"
        f" {settings.retention_days:g} days; {pruned.kept_bytes} bytes kept"
    )
