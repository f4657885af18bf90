"""`receiver keys create|list|revoke`: API keys for apps, through a running relay's API
(with the admin token in $RECEIVER_ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from receiver.cli.apps import limits_of, new_app_options
from receiver.cli.common import ChoiceOf
from receiver.cli.reach import call_relay, relay_option
from receiver.cli.tables import table, when


@click.group("keys")
def keys() -> None:
    """API keys for apps, each with only its scopes."""


@keys.command("create")
@relay_option
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
    "--app",
    help="Make it a key of this app (`receiver apps create`), which owns what it makes;"
    " without it, the key is the only key of a new app of its own name.",
)
@new_app_options("its new app's")
def create(
    url: str,
    name: str,
    scopes: tuple[str, ...],
    app: str | None,
    weight: int | None,
    max_queued: int | None,
    max_per_day: int | None,
) -> None:
    """Make key NAME; prints the key, this once."""
    given = {"weight": weight, "max_queued": max_queued, "max_per_day": max_per_day}
    settings = {k: v for k, v in given.items() if v is not None}
    body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
    if app is None:
        made = call_relay(url, "POST", "/v1/keys", body | settings)
    elif settings:
        # The weight and limits are the app's, shared by its keys: not one key's to set.
        named = ", ".join(f"--{k.replace('_', '-')}" for k in settings)
        raise click.UsageError(
            f"with --app, give no {named}: an app's weight and limits are its own, shared"
            " by its keys (`receiver apps create` or `apps change` sets them)"
        )
    else:
        path = f"/v1/apps/{quote(app, safe='')}/keys"
        made = call_relay(url, "POST", path, body, f"no app named {app!r}")
    limits = limits_of(made)
    shown = f"; weight {made['weight']}" + (f"; {limits}" if limits != "-" else "")
    click.echo(f"{name}: made for app {made['app']} ({', '.join(made['scopes'])}{shown})", err=True)
    click.echo(made["key"])
    click.echo("keep the key now: it is not shown again", err=True)


@keys.command("list")
@relay_option
def list_keys(url: str) -> None:
    """Every live key, with its app and scopes.

    Its name, app, scopes, its app's weight and limits, when made and last used (never the
    key)."""
    found = call_relay(url, "GET", "/v1/keys")["keys"]
    rows = [
        (
            k["name"],
            k["app"],
            " ".join(k["scopes"]),
            k["weight"],
            limits_of(k),
            when(k["created_at"]),
            when(k["last_used_at"]),
        )
        for k in found
    ]
    headers = ("name", "app", "scopes", "weight", "limits", "created", "last used")
    click.echo(table(headers, rows))


@keys.command("revoke")
@relay_option
@click.argument("name")
def revoke(url: str, name: str) -> None:
    """Revoke key NAME, and its share links.

    Every replica refuses it within seconds, its share links with it."""
    call_relay(url, "DELETE", f"/v1/keys/{quote(name, safe='')}", missing=f"no key named {name!r}")
    click.echo(f"{name}: revoked")
