"""The `receiver` command: its group, and a table of its commands, each imported from its
module only when it is called or asked for its help, so that `receiver --help` and the
start of every command load none of the service (tests/unit/test_cli_lean.py)."""

from __future__ import annotations

import click

from receiver.cli.common import LazyGroup

# name: ("module:command", its short help, as its docstring's first sentence gives it).
COMMANDS = {
    "apps": (
        "receiver.cli.apps:apps",
        "Apps: each owns the tasks its keys make, its share of the submit queue and its limits.",
    ),
    "backup": (
        "receiver.cli.maintenance:backup",
        "Copy the SQLite store to PATH while the relay serves, check the copy, and say what"
        " it holds.",
    ),
    "config": (
        "receiver.cli.runners:config",
        "The configuration: file, `RECEIVER__<SECTION>__<KEY>` variables and defaults.",
    ),
    "deliver": (
        "receiver.cli.runners:deliver",
        "Run only the fan-out, beside `receiver serve` with delivery.in_process = false.",
    ),
    "deliveries": ("receiver.cli.store_tools:deliveries", "Inspect the delivery outbox."),
    "demo": (
        "receiver.cli.runners:demo",
        "Run simulator, a downstream sink and the relay locally; show one task of each route.",
    ),
    "dev": (
        "receiver.cli.runners:dev",
        "Run the relay, a CometAPI simulator and a sink on loopback until Ctrl-C, the store kept.",
    ),
    "downstreams": (
        "receiver.cli.store_tools:downstreams",
        "See each downstream's health; disable one, or enable it and recover what it missed;"
        " make, change, rotate the secret of and remove downstreams through a running relay.",
    ),
    "keys": (
        "receiver.cli.keys:keys",
        "API keys for apps: each holds only the scopes it is given.",
    ),
    "listen": (
        "receiver.cli.listen:listen",
        "Forward an app's events to a local URL, signed as the relay signs them.",
    ),
    "media": (
        "receiver.cli.store_tools:media",
        "The copies of finished renders (the [media] section).",
    ),
    "prune": (
        "receiver.cli.maintenance:prune",
        "Remove ended tasks past retention.task_days (the relay also does, every"
        " advanced.retention.prune_interval_seconds), with everything that hangs on them.",
    ),
    "reference": (
        "receiver.cli.runners:reference",
        "Write the reference pages (config keys, commands, routes, metrics) from the code.",
    ),
    "replay": (
        "receiver.cli.store_tools:replay",
        "Queue deliveries for an immediate new attempt (a running service sends them).",
    ),
    "secret": (
        "receiver.cli.runners:secret",
        "Print a fresh Standard Webhooks signing secret (whsec_...) for a downstream.",
    ),
    "serve": (
        "receiver.cli.runners:serve",
        "Run the service (config from --config or $RECEIVER_CONFIG; $PORT sets the port).",
    ),
    "simulate": (
        "receiver.cli.runners:simulate",
        "Run a local CometAPI simulator to develop against.",
    ),
    "sink": (
        "receiver.cli.runners:sink",
        "Run a downstream that prints each webhook it gets and checks its signature.",
    ),
    "submit": (
        "receiver.cli.client:submit",
        "Submit a task through a running relay; with --wait, follow it to its end.",
    ),
    "tail": (
        "receiver.cli.client:tail",
        "Print each change as it happens (tasks, delivery attempts) until Ctrl-C.",
    ),
    "tasks": ("receiver.cli.store_tools:tasks", "Inspect stored tasks."),
    "version": (
        "receiver.cli.version:show_version",
        "The release, the commit it was built from, and the extras installed.",
    ),
    "trace-callback": (
        "receiver.cli.runners:trace_callback",
        "Trace what a relay runs from a callback to the webhook's recorded attempt.",
    ),
    "trace-submit": (
        "receiver.cli.runners:trace_submit",
        "Trace what a relay runs from an app's submit to CometAPI's answer recorded.",
    ),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.version_option(package_name="runway-relay")
def main() -> None:
    """Runway task relay: submit through CometAPI, receive callbacks, fan results out."""
