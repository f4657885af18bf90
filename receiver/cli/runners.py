"""The runners of the relay's processes (serve, deliver, simulate, sink, demo, dev), with
`secret`, `config show`, and the relay's developers' tools under `dev` (trace-callback,
trace-submit, reference). Each imports
what it runs when it is called, so that its help loads none of the service."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from receiver.cli.common import LazyGroup, config_option, fail, installed_for
from receiver.kernel.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from receiver.config import Config
    from receiver.kernel.store import Store


def _load_config(config_path: str | None) -> tuple[Config, tuple[str, ...]]:
    """The config, and the media store's keys (secrets to scrub), or one line and exit."""
    from receiver.config import load
    from receiver.kernel.observability import tracing
    from receiver.media.storage.local import s3_keys

    try:
        config = load(config_path)
        tracing.configure()
    except ConfigError as exc:
        fail(f"config error: {exc}")
    installed_for(config.settings)
    try:
        if config.settings.media.enabled and config.settings.media.store == "s3":
            return config, s3_keys(config.settings.media, os.environ) or ()
    except ConfigError as exc:
        fail(f"config error: {exc}")
    return config, ()


def _get_ready(config_path: str | None, config: Config, media_keys: tuple[str, ...]) -> None:
    """The store reachable, at this release's schema, and logging set up."""
    from receiver.cli.offline import with_store
    from receiver.kernel.observability import logs, tracing

    # A database that is down, or that a newer release has migrated, is reported in one
    # line here, not as a startup traceback.
    with_store(config_path, _ready_to_run, to_run=True)
    logs.configure(config.settings.logging.level, [*config.log_secrets(), *media_keys])
    for line in config.deprecations:
        logs.get_logger("receiver.config").warning("config.deprecated", detail=line)
    if (where := tracing.exports_to()) is not None:
        logs.get_logger("receiver.tracing").info(
            "tracing.on", exports_to=where, flush_at_most_seconds=tracing.FLUSH_SECONDS
        )


async def _ready_to_run(store: Store) -> None:
    await store.ready(schema=False)
    await store.check_schema()


def _take_workers(store: Store, deliveries: bool, polls: bool) -> None:
    """Refuse, in one line and before any lease is touched, to run work another process
    already runs on this store (SQLite: one process each)."""
    try:
        store.take_workers(deliveries=deliveries, polls=polls)
    except StoreError as exc:
        fail(str(exc))


@click.command()
@config_option
def serve(config_path: str | None) -> None:
    """Run the relay: its API, callbacks and workers.

    Its config from --config or $RECEIVER_CONFIG; $PORT sets the port."""
    # No garbage collection while the service is imported and built: what that allocates
    # lives as long as the process; the app freezes it and turns the collector on once it
    # has started (receiver/app/build.py).
    gc.disable()
    from receiver.app import server
    from receiver.app.build import build_service, create_app

    config, media_keys = _load_config(config_path)
    try:
        listening = server.bind(config.settings.server)  # before the store or any worker
    except ConfigError as exc:
        fail(exc.detail)
    _get_ready(config_path, config, media_keys)
    service = build_service(config)
    _take_workers(service.store, config.settings.delivery.in_process, polls=True)
    server.run(create_app(service), config, listening, service)


@click.command()
@config_option
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT.",
)
@click.option(
    "--metrics",
    "metrics_listen",
    is_flag=True,
    help="Serve this worker's metrics at server.metrics_listen, asking for the token of"
    " server.metrics_token_env as serve does (off loopback it must be set): for a worker in"
    " a pod or container of its own.",
)
def deliver(config_path: str | None, metrics_port: int | None, metrics_listen: bool) -> None:
    """Run only the fan-out, in a process of its own.

    Beside `receiver serve` with delivery.in_process = false."""
    from prometheus_client import start_http_server

    from receiver.app.build import build_service
    from receiver.app.deliver import deliver as run_fanout
    from receiver.app.server import bound

    config, media_keys = _load_config(config_path)
    _get_ready(config_path, config, media_keys)
    if config.settings.delivery.in_process:
        fail(
            "config error: config key delivery.in_process: set it to false, so that"
            " `receiver serve` leaves the deliveries to this worker"
        )
    listening = None
    address = config.settings.server.metrics_address
    if metrics_listen:
        if address is None:
            fail("config error: --metrics needs server.metrics_listen, which is empty")
        try:
            listening = bound(*address, "config key server.metrics_listen: ")
        except ConfigError as exc:
            fail(f"config error: {exc.detail}")
    service = build_service(config)
    _take_workers(service.store, deliveries=True, polls=False)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1", registry=service.metrics.registry)
    run_fanout(service, listening)


@click.command()
@click.option(
    "--ed25519",
    is_flag=True,
    help="An ed25519 key (whsk_...) instead, for signing ed25519 or rfc9421; its public key"
    " (whpk_...) and its rfc9421 key id go to stderr.",
)
def secret(ed25519: bool) -> None:
    """Print a fresh signing secret (whsec_...).

    A Standard Webhooks signing secret for a downstream."""
    from receiver.kernel.secrets.message_signatures import key_id
    from receiver.kernel.secrets.signing import new_secret, public_key

    made = new_secret("ed25519" if ed25519 else "hmac")
    click.echo(made)
    if ed25519:
        click.echo(f"public key: {public_key(made)}", err=True)
        click.echo(f"key id (rfc9421): {key_id(made)}", err=True)


@click.command()
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--api-key", default=None, help="Accept only this key (default: any).")
def simulate(port: int, host: str, api_key: str | None) -> None:
    """Run a local CometAPI simulator to develop against."""
    from receiver.devtools.simulator import run_simulator

    run_simulator(port, host=host, api_key=api_key)


@click.command()
@click.option("--port", type=int, default=8070, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--secret",
    envvar="RECEIVER_SINK_SECRET",
    default=None,
    help="The downstream's whsec_ secret: signatures are checked, a bad one answered 401"
    " (or set $RECEIVER_SINK_SECRET, which stays out of the process list).",
)
def sink(port: int, host: str, secret: str | None) -> None:
    """Run a downstream that prints and checks each webhook.

    It prints each webhook it gets and, given the secret, checks its signature."""
    from receiver.devtools.printing_sink import run_printing_sink

    try:
        run_printing_sink(port, host, secret)
    except ValueError as exc:
        fail(f"--secret: {exc}")


@click.command()
def demo() -> None:
    """Show one task of each route on a local stack.

    Runs a CometAPI simulator, a downstream sink and the relay on loopback."""
    from receiver.devtools.demo import run_demo

    sys.exit(run_demo())


_RUNS = click.option(
    "--runs",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Runs traced one after another, after one that warms the relay up; the median is"
    " shown (by modules, then returns).",
)
_AS_JSON = click.option(
    "--json", "as_json", is_flag=True, help="The figures and each task's calls as JSON."
)


@click.command("trace-callback")
@_AS_JSON
@_RUNS
def trace_callback(as_json: bool, runs: int) -> None:
    """Trace a relay's path from a callback to the webhook.

    What a relay runs from a callback to the webhook's recorded attempt.

    Simulator, sink and relay on loopback, the relay as `receiver serve` runs it, a task a
    run; each fresh call of the service's functions, by asyncio task, without what its
    background loops run in an idle window (docs/development.md, "A request's path,
    measured").
    """
    from receiver.devtools.traced_path import CALLBACK, run_trace

    sys.exit(run_trace(CALLBACK, as_json, runs))


@click.command("trace-submit")
@_AS_JSON
@_RUNS
def trace_submit(as_json: bool, runs: int) -> None:
    """Trace a relay's path from a submit to CometAPI's answer.

    What a relay runs from an app's submit to CometAPI's answer recorded.

    As trace-callback: from `POST /v1/tasks` with an app's key to the statement that
    records the send's attempt (docs/development.md, "A request's path, measured").
    """
    from receiver.devtools.traced_path import SUBMIT, run_trace

    sys.exit(run_trace(SUBMIT, as_json, runs))


@click.command()
@click.argument(
    "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/reference")
)
def reference(folder: Path) -> None:
    """Write the reference pages (docs/reference) from the code.

    The config keys, commands, routes and metrics, and the folders' floors.

    Into FOLDER (default docs/reference, from the repository's root): configuration.md,
    cli.md, api.md, metrics.md and folders.md, the same on every machine.
    """
    from receiver.cli.main import main
    from receiver.devtools.reference import write

    for path in write(folder, main):
        click.echo(f"wrote {path}")


_PORT = click.IntRange(0, 65535)


# The relay's developers' tools, under `receiver dev`, as main.py's table names commands.
_DEVELOPERS = {
    "reference": (
        "receiver.cli.runners:reference",
        "Write the reference pages (docs/reference) from the code.",
    ),
    "trace-callback": (
        "receiver.cli.runners:trace_callback",
        "Trace a relay's path from a callback to the webhook.",
    ),
    "trace-submit": (
        "receiver.cli.runners:trace_submit",
        "Trace a relay's path from a submit to CometAPI's answer.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=_DEVELOPERS,
    invoke_without_command=True,
    sections={"For the relay's developers": tuple(_DEVELOPERS)},
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".receiver-dev"),
    show_default=True,
    help="The store, media copies and secrets, kept between runs.",
)
@click.option(
    "--port",
    type=_PORT,
    default=None,
    help="The relay's port (default: the last run's when free, else any free one; so are the"
    " two below).",
)
@click.option("--simulator-port", type=_PORT, default=None, help="The CometAPI simulator's port.")
@click.option("--sink-port", type=_PORT, default=None, help="The downstream sink's port.")
@click.pass_context
def dev(
    ctx: click.Context,
    folder: Path,
    port: int | None,
    simulator_port: int | None,
    sink_port: int | None,
) -> None:
    """Run a local relay, simulator and sink until Ctrl-C.

    Called bare: the relay, a CometAPI simulator and a sink on loopback, the store kept,
    with the `export` lines a shell needs, a console link and the demo app's portal link.
    Its commands below are the relay's developers' tools.
    """
    if ctx.invoked_subcommand is not None:
        return
    from receiver.devtools.dev import DevError, Fixed, run_dev
    from receiver.devtools.stack import StackError

    try:
        run_dev(folder, Fixed(relay=port, simulator=simulator_port, sink=sink_port))
    except (DevError, StackError) as exc:
        fail(str(exc))


@click.group()
def config() -> None:
    """The configuration in effect, and where it comes from.

    The file, `RECEIVER__<SECTION>__<KEY>` variables and defaults."""


@config.command()
@config_option
def show(config_path: str | None) -> None:
    """Print the configuration in effect as TOML.

    Its secrets masked; exit 2 on a problem."""
    from receiver.config import effective_settings
    from receiver.config.show import as_toml, effective, secret_variables

    try:
        settings = effective_settings(config_path)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    click.echo(as_toml(effective(settings), os.environ, secret_variables(settings)), nl=False)
