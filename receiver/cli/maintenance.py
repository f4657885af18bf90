"""Keeping the store lean and safe: `receiver prune` (what retention removes, now or as a dry
run) and `receiver backup` (a checked copy of the SQLite store, taken while the relay
serves). Both run with the relay's config file, beside a running relay or without one."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from receiver.cli.common import config_option, fail, settings_of, store_url
from receiver.cli.tables import counted
from receiver.kernel.errors import StoreError

if TYPE_CHECKING:
    from receiver.kernel.store import Store

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
@config_option
@click.option("--dry-run", is_flag=True, help="Only say what a prune now would remove.")
def prune(config_path: str | None, dry_run: bool) -> None:
    """Remove ended tasks past retention.task_days (the relay also does, every
    advanced.retention.prune_interval_seconds), with everything that hangs on them."""
    from receiver.cli.offline import with_store
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
    verb = "would remove" if dry_run else "removed"
    days = f"{policy.task_days:g}"
    tasks = counted(removed["tasks"], "task", "tasks")
    click.echo(f"{verb} {tasks} that ended more than {days} days ago:")
    for kind, what in _WHAT.items():
        click.echo(f"  {removed[kind]:>12,}  {what}")
    if not dry_run:
        click.echo(f"gave {_megabytes(given_back)} back to the file system")


@click.command()
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
def backup(config_path: str | None, path: str) -> None:
    """Copy the SQLite store to PATH while the relay serves, check the copy, and say what
    it holds. (PostgreSQL: use pg_dump, see docs/operations.md.)"""
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
