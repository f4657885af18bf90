"""The `receiver` command: serve, simulate, demo; operator tools over the store; and a
client of a running relay's API (submit, tail)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import IO, Any, NoReturn, TypeVar

import click

from receiver.cli.remote import (
    DEFAULT_URL,
    TERMINAL,
    TOKEN_ENV,
    URL_ENV,
    Relay,
    RemoteError,
    StreamUnavailable,
    change_line,
    output_urls,
    progress_line,
    submit_body,
)
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
    from receiver.adapters.media.storage import s3_keys
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
    from receiver.web import server
    from receiver.web.app import build_service, create_app

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

    from receiver.pipeline.deliver_worker import deliver as run_deliveries
    from receiver.web.app import build_service

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
    from receiver.adapters.webhooks import new_secret

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
@click.option("--json", "as_json", is_flag=True, help="One JSON object per task.")
def tasks_list(config_path: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """The newest tasks, from the store."""
    found = _with_store(config_path, lambda s: s.list_tasks(TaskFilter(state=state, limit=limit)))
    if as_json:
        for t in found:
            click.echo(json.dumps(t.summary()))
        return
    click.echo(
        table(
            ["id", "kind", "state", "progress", "created", "outputs", "prompt"],
            [
                [
                    t.id,
                    t.kind,
                    t.state,
                    _share(t.progress),
                    _when(t.created_at),
                    len(t.outputs),
                    _short(t.prompt, 40),
                ]
                for t in found
            ],
        )
    )


def _share(progress: float | None) -> str:
    return f"{round(progress * 100)}%" if progress is not None else "-"


def _short(text: str | None, width: int) -> str:
    """One line of at most `width` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


@tasks.command("show")
@_config_option
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="The task, its events and deliveries.")
def tasks_show(config_path: str | None, task_id: str, as_json: bool) -> None:
    """One task with its history, from the store."""

    async def fetch(store: Store) -> Any:
        task = await store.get_task(task_id)
        if task is None:
            return None, [], [], []
        events, deliveries = await store.task_history(task_id)
        return task, events, deliveries, await store.task_attempts(task_id)

    task, events, deliveries, attempts = _with_store(config_path, fetch)
    if task is None:
        _fail(f"no task {task_id}")
    if as_json:
        document = {
            **task.summary(),
            "request": task.request,
            "events": [e.summary() for e in events],
            "deliveries": [d.summary() for d in deliveries],
            "attempts": [a.summary() for a in attempts],
        }
        click.echo(json.dumps(document, indent=2))
        return
    for key, value in task.summary().items():
        click.echo(f"{key:>16}: {'-' if value is None else value}")
    click.echo("\nevents")
    click.echo(
        table(
            ["id", "source", "state", "upstream status", "applied", "verdict", "received"],
            [
                [
                    e.id,
                    e.source,
                    e.state,
                    e.upstream_status,
                    e.applied,
                    e.verdict,
                    _when(e.received_at),
                ]
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
    from receiver.adapters.media.storage import open_media_store

    settings = _settings(config_path).media
    try:
        pruned = open_media_store(settings).prune(settings.retention_days)
    except ConfigError as exc:
        _fail(f"config error: {exc}")
    click.echo(
        f"removed {pruned.files} files, {pruned.bytes} bytes, older than"
        f" {settings.retention_days:g} days; {pruned.kept_bytes} bytes kept"
    )


# A client of a running relay: its HTTP API, with $RECEIVER_ADMIN_TOKEN.

_url_option = click.option(
    "--url",
    envvar=URL_ENV,
    default=DEFAULT_URL,
    show_default=True,
    help=f"The running relay (or ${URL_ENV}).",
)


def _relay(url: str) -> Relay:
    token = os.environ.get(TOKEN_ENV)
    if not token:
        _fail(f"set ${TOKEN_ENV} to the relay's admin token")
    return Relay(url, token)


class _Progress:
    """The task's progress on stderr: one line redrawn on a terminal, else a line a change."""

    def __init__(self, stream: IO[str]) -> None:
        self.tty = stream.isatty()
        self.last = ""

    def show(self, task: dict[str, Any], note: str = "") -> None:
        line = f"{progress_line(task)}  {task.get('id', '')}{note}"
        if line == self.last:
            return
        if self.tty:
            click.echo("\r" + line.ljust(len(self.last)), nl=False, err=True)
        else:
            click.echo(line, err=True)
        self.last = line

    def end(self) -> None:
        if self.tty and self.last:
            click.echo(err=True)


def _wait(relay: Relay, task_id: str, progress: _Progress, media_wait: float) -> dict[str, Any]:
    """Follow the task until it ends (the live stream; polling on a relay without one), then
    give the copies of its renders a while to be made."""
    try:
        for event in relay.follow(task_id, since=0):
            if event.event == "task":
                summary = json.loads(event.data)
                progress.show(summary)
                if summary.get("state") in TERMINAL:
                    break
    except StreamUnavailable:
        while (task := relay.task(task_id))["state"] not in TERMINAL:
            progress.show(task)
            time.sleep(1)
    task = relay.task(task_id)
    deadline = time.monotonic() + media_wait
    while (task.get("media") or {}).get("status") == "pending" and time.monotonic() < deadline:
        progress.show(task, "  (copying the renders)")
        time.sleep(0.5)
        task = relay.task(task_id)
    progress.show(task)
    return task


@main.command("submit")
@click.option("--prompt", help="What to make of the source (optional for image_to_video).")
@click.option("--video", help="The source video's URL (video2video, video_to_video).")
@click.option("--image", help="The source image's URL (image_to_video).")
@click.option(
    "--kind",
    type=click.Choice(["video2video", "video_to_video", "image_to_video"]),
    default="video2video",
    show_default=True,
)
@click.option("--model", help="The route's model (default: the relay's).")
@click.option("--wait", is_flag=True, help="Show its progress until it ends, then its outputs.")
@click.option("--json", "as_json", is_flag=True, help="Print the relay's JSON answer.")
@_url_option
def submit(
    prompt: str | None,
    video: str | None,
    image: str | None,
    kind: str,
    model: str | None,
    wait: bool,
    as_json: bool,
    url: str,
) -> None:
    """Submit a task through a running relay; with --wait, follow it to its end.

    With --wait the output URLs are printed, one a line (the relay's copies when it makes
    them), and the exit status is 0; a task that fails or is cancelled exits with 1.
    """
    try:
        body = submit_body(kind, prompt, video, image, model)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with _relay(url) as relay:
        try:
            answer = relay.submit(body)
            if not wait:
                click.echo(json.dumps(answer) if as_json else f"{answer['id']}  {answer['state']}")
                return
            progress = _Progress(sys.stderr)
            try:
                task = _wait(relay, answer["id"], progress, media_wait=60.0)
            finally:
                progress.end()
        except RemoteError as exc:
            _fail(str(exc))
    if as_json:
        click.echo(json.dumps(task, indent=2))
    if task["state"] != "succeeded":
        reason = task.get("error") or "no reason given"
        click.echo(f"receiver: task {task['id']} {task['state']}: {reason}", err=True)
        sys.exit(1)
    if not as_json:
        for link in output_urls(task):
            click.echo(link)


@main.command()
@click.option("--task", "task_id", help="Only this task's changes.")
@click.option(
    "--since", type=float, default=None, help="Start at this time (epoch seconds), not now."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a change.")
@_url_option
def tail(task_id: str | None, since: float | None, as_json: bool, url: str) -> None:
    """Print each change as it happens (tasks, delivery attempts) until Ctrl-C."""
    with _relay(url) as relay:
        try:
            for event in relay.follow(task_id, since=since):
                if event.event not in ("task", "attempt"):
                    continue
                data = json.loads(event.data)
                if as_json:
                    click.echo(json.dumps({"event": event.event, "id": event.id, "data": data}))
                else:
                    click.echo(change_line(event, data))
        except StreamUnavailable:
            _fail("this relay has no live stream (GET /v1/stream)")
        except RemoteError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            return
