"""`receiver keys create|list|revoke`: API keys for apps, through a running relay's API
(with the admin token in $RECEIVER_ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Any

import click

from receiver.cli.client import relay_of, url_option
from receiver.cli.common import ChoiceOf, fail
from receiver.cli.remote import RemoteError
from receiver.cli.tables import table, when


def _call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    try:
        with relay_of(url) as relay:
            return relay.call(method, path, json=body)
    except RemoteError as exc:
        fail(str(exc))


@click.group("keys")
def keys() -> None:
    """API keys for apps: each holds only the scopes it is given."""


@keys.command("create")
@url_option
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=ChoiceOf("receiver.keys.rules:SCOPES"),
    help="What it may do (repeat); `admin`: everything.",
)
@click.option(
    "--max-queued",
    type=click.IntRange(min=1),
    help="At most this many of its tasks not ended at once (429 past it).",
)
@click.option(
    "--max-per-day",
    type=click.IntRange(min=1),
    help="At most this many tasks in any 24 hours (429 past it).",
)
def create(
    url: str, name: str, scopes: tuple[str, ...], max_queued: int | None, max_per_day: int | None
) -> None:
    """Make key NAME; prints the key, this once."""
    body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
    if max_queued is not None:
        body["max_queued"] = max_queued
    if max_per_day is not None:
        body["max_per_day"] = max_per_day
    made = _call(url, "POST", "/v1/keys", body)
    click.echo(f"{name}: made ({', '.join(made['scopes'])}{_limits(made)})", err=True)
    click.echo(made["key"])
    click.echo("keep the key now: it is not shown again", err=True)


@keys.command("list")
@url_option
def list_keys(url: str) -> None:
    """Every live key: name, scopes, limits, made, last used (never the key)."""
    found = _call(url, "GET", "/v1/keys")["keys"]
    rows = [
        (
            k["name"],
            " ".join(k["scopes"]),
            _limits(k).removeprefix("; ") or "-",
            when(k["created_at"]),
            when(k["last_used_at"]),
        )
        for k in found
    ]
    click.echo(table(("name", "scopes", "limits", "created", "last used"), rows))


def _limits(key: dict[str, Any]) -> str:
    """`; max_queued 5, max_per_day 100`, or nothing when it has no limit."""
    named = [f"{n} {key[n]}" for n in ("max_queued", "max_per_day") if key.get(n) is not None]
    return "; " + ", ".join(named) if named else ""


@keys.command("revoke")
@url_option
@click.argument("name")
def revoke(url: str, name: str) -> None:
    """Revoke key NAME: every replica refuses it within seconds, its share links with it."""
    _call(url, "DELETE", f"/v1/keys/{name}")
    click.echo(f"{name}: revoked")
