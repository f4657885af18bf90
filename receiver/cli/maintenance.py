"""Keeping the store lean and safe: `receiver prune` (what retention removes, now or as a dry
run: through a running relay, or on the store with --store) and `receiver backup` (a
checked copy of the SQLite store, taken while the relay serves, with the relay's config)."""

from __future__ import annotations

import click

from receiver.cli.common import config_option, fail, settings_of, store_url
from receiver.cli.reach import on_store, store_options, through_relay
from receiver.cli.tables import counted
from receiver.kernel.errors import StoreError

_WHAT = {
    "tasks": "tasks",
    "events": "events (with their raw bodies)",
    "deliveries": "deliveries",
    "attempts": "delivery attempts",
    "mirrors": "media records",
    "chat_messages": "chat messages",
}


def _megabytes(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


@click.command()
@store_options
@click.option("--dry-run", is_flag=True, help="Only say what a prune now would remove.")
def prune(url: str, on_store_asked: bool, config_path: str | None, dry_run: bool) -> None:
    """Remove ended tasks past retention.task_days, now.

    With everything that hangs on them; the relay also does, every
    advanced.retention.prune_interval_seconds."""
    if on_store(on_store_asked, config_path):
        from receiver.cli import on_store as store

        pruned = store.prune(config_path, dry_run)
    else:
        with through_relay(url) as relay:
            params = {"dry_run": "true" if dry_run else "false"}
            # A long walk on a big store: as long as it takes.
            pruned = relay.call("POST", "/v1/retention/prune", params=params, timeout=None)
    removed = pruned["removed"]
    verb = "would remove" if dry_run else "removed"
    tasks = counted(removed["tasks"], "task", "tasks")
    click.echo(f"{verb} {tasks} that ended more than {pruned['task_days']:g} days ago:")
    for kind, what in _WHAT.items():
        click.echo(f"  {removed[kind]:>12,}  {what}")
    if not dry_run:
        click.echo(f"gave {_megabytes(pruned['bytes_given_back'])} back to the file system")


@click.command()
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
def backup(config_path: str | None, path: str) -> None:
    """Copy the SQLite store to PATH, checked, while it serves.

    The copy is checked, and what it holds said. (PostgreSQL: use pg_dump, see
    docs/operations.md.)"""
    import asyncio

    from receiver.operator.backup import backup as take

    url = store_url(config_path, settings_of(config_path))
    if not url.startswith("sqlite:///"):
        fail(
            "backup copies a SQLite store; for PostgreSQL run"
            ' pg_dump --format=custom --file PATH "$DATABASE_URL" (docs/operations.md)'
        )
    try:
        report = asyncio.run(asyncio.to_thread(take, url.removeprefix("sqlite:///"), path))
    except StoreError as exc:
        fail(f"storage error: {exc}")
    counts = report.counts
    tasks = ", ".join(
        f"{int(counts.get(f'tasks_{s}', 0)):,} {s}"
        for s in ("queued", "running", "succeeded", "failed", "cancelled")
    )
    deliveries = ", ".join(
        f"{int(counts.get(f'deliveries_{s}', 0)):,} {s}"
        for s in ("pending", "held", "mirroring", "succeeded", "dead", "superseded", "filtered")
        if s not in ("superseded", "filtered") or counts.get(f"deliveries_{s}")
    )
    click.echo(f"backup {report.path}: {_megabytes(report.bytes)}, schema {report.schema_version}")
    click.echo(f"integrity: {report.integrity}")
    click.echo(f"tasks: {tasks}")
    click.echo(f"deliveries: {deliveries}")
    if report.integrity != "ok":
        fail(f"the copy at {path} failed its integrity check: do not rely on it")
