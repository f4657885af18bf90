"""The `receiver` command: its group, and a table of its commands, each imported from its
module only when it is called or asked for its help, so that `receiver --help` and the
start of every command load none of the service (tests/unit/test_cli_lean.py). The relay's
developers' tools are under `receiver dev` (runners.py), out of the operator's list."""

from __future__ import annotations

import click

from receiver.cli.common import LazyGroup

# name: ("module:command", its short help, as its docstring's first sentence gives it:
# short enough that `receiver --help` shows it whole).
COMMANDS = {
    "apps": ("receiver.cli.apps:apps", "Apps: their keys, share of the queue and limits."),
    "backup": (
        "receiver.cli.maintenance:backup",
        "Copy the SQLite store to PATH, checked, while it serves.",
    ),
    "config": (
        "receiver.cli.runners:config",
        "The configuration in effect, and where it comes from.",
    ),
    "deliver": ("receiver.cli.runners:deliver", "Run only the fan-out, in a process of its own."),
    "deliveries": (
        "receiver.cli.operate:deliveries",
        "List deliveries: one an event and downstream.",
    ),
    "demo": ("receiver.cli.runners:demo", "Show one task of each route on a local stack."),
    "dev": ("receiver.cli.runners:dev", "Run a local relay, simulator and sink until Ctrl-C."),
    "downstreams": (
        "receiver.cli.operate:downstreams",
        "Downstreams: health, disable, enable, make, change.",
    ),
    "keys": ("receiver.cli.keys:keys", "API keys for apps, each with only its scopes."),
    "listen": ("receiver.cli.listen:listen", "Forward an app's events to a local URL, signed."),
    "media": ("receiver.cli.operate:media", "The copies of finished renders ([media])."),
    "prune": (
        "receiver.cli.maintenance:prune",
        "Remove ended tasks past retention.task_days, now.",
    ),
    "replay": (
        "receiver.cli.operate:replay",
        "Queue deliveries, or a downstream's dead letters, again.",
    ),
    "secret": ("receiver.cli.runners:secret", "Print a fresh signing secret (whsec_...)."),
    "serve": ("receiver.cli.runners:serve", "Run the relay: its API, callbacks and workers."),
    "simulate": (
        "receiver.cli.runners:simulate",
        "Run a local CometAPI simulator to develop against.",
    ),
    "sink": (
        "receiver.cli.runners:sink",
        "Run a downstream that prints and checks each webhook.",
    ),
    "submit": ("receiver.cli.client:submit", "Submit a task; with --wait, follow it to its end."),
    "tail": ("receiver.cli.client:tail", "Print each change as it happens, until Ctrl-C."),
    "tasks": ("receiver.cli.operate:tasks", "List tasks, or show one with its history."),
    "version": (
        "receiver.cli.version:show_version",
        "The release, its commit and the extras installed.",
    ),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.version_option(package_name="runway-relay")
def main() -> None:
    """Runway task relay: submit through CometAPI, receive callbacks, fan results out."""
