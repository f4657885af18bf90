"""`receiver apps create|change|list|show|portal-link`: the apps (each owns the tasks its keys make,
its turns in the submit queue and its limits), through a running relay's API with the admin
token in $RECEIVER_ADMIN_TOKEN. An app that is not there is one line, exit 1."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import click

from receiver.cli.common import C, fail, not_found, stacked
from receiver.cli.reach import (
    call_relay,
    every_downstream,
    relay_option,
    said,
    through_relay,
)
from receiver.cli.remote import KEY_ENV, TOKEN_ENV, RemoteError
from receiver.cli.tables import table, when

# The bounds the API holds them to (receiver/apps/api.py, receiver/apps/portal.py), checked
# here too so that a mistyped figure is refused before anything is sent.
_WEIGHTS = click.IntRange(1, 100)
_TTLS = click.IntRange(10, 86_400)


def _missing(name: str) -> str:
    return f"no app named {name!r}"


def _app_path(name: str) -> str:
    return f"/v1/apps/{quote(name, safe='')}"


def limits_of(info: dict[str, Any]) -> str:
    """`max_queued 5, max_per_day 100`, or `-` when it has no limit."""
    named = [f"{n} {info[n]}" for n in ("max_queued", "max_per_day") if info.get(n) is not None]
    return ", ".join(named) or "-"


def _settings(info: dict[str, Any]) -> str:
    """`weight 2; max_queued 20`, `weight 1; no limit`."""
    limits = limits_of(info)
    return f"weight {info['weight']}; {'no limit' if limits == '-' else limits}"


def new_app_options(whose: str) -> Callable[[C], C]:
    """A new app's `--weight` and limits, `whose` tasks they govern in their help."""
    return stacked(
        click.option(
            "--weight",
            type=_WEIGHTS,
            help=f"{whose.capitalize()} share of the submit queue's turns (1 to 100; default 1).",
        ),
        click.option(
            "--max-queued",
            type=click.IntRange(min=1),
            help=f"At most this many of {whose} tasks not ended at once (429 past it).",
        ),
        click.option(
            "--max-per-day",
            type=click.IntRange(min=1),
            help=f"At most this many of {whose} tasks in any 24 hours (429 past it).",
        ),
    )


@click.group("apps")
def apps() -> None:
    """Apps: their keys, share of the queue and limits.

    Each owns the tasks its keys make, its share of the submit queue and its limits."""


@apps.command("create")
@relay_option
@click.argument("name")
@new_app_options("its")
def create(
    url: str, name: str, weight: int | None, max_queued: int | None, max_per_day: int | None
) -> None:
    """Make app NAME.

    Its keys are made with `receiver keys create KEY --app NAME`."""
    given = {"weight": weight, "max_queued": max_queued, "max_per_day": max_per_day}
    body: dict[str, Any] = {"name": name, **{k: v for k, v in given.items() if v is not None}}
    made = call_relay(url, "POST", "/v1/apps", body)
    click.echo(f"{name}: made ({_settings(made)})")


@apps.command("change")
@relay_option
@click.argument("name")
@click.option("--weight", type=_WEIGHTS, help="Its new share of the submit queue's turns.")
@click.option("--max-queued", type=click.IntRange(min=1), help="A new max_queued.")
@click.option("--max-per-day", type=click.IntRange(min=1), help="A new max_per_day.")
@click.option("--no-max-queued", is_flag=True, help="Lift its max_queued.")
@click.option("--no-max-per-day", is_flag=True, help="Lift its max_per_day.")
def change(
    url: str,
    name: str,
    weight: int | None,
    max_queued: int | None,
    max_per_day: int | None,
    no_max_queued: bool,
    no_max_per_day: bool,
) -> None:
    """Change app NAME's weight or limits.

    Its keys hold them within a second."""
    body: dict[str, Any] = {}
    for field, value, lifted in (
        ("weight", weight, False),
        ("max_queued", max_queued, no_max_queued),
        ("max_per_day", max_per_day, no_max_per_day),
    ):
        if value is not None and lifted:
            raise click.UsageError(f"give --{field.replace('_', '-')} or lift it, not both")
        if value is not None or lifted:
            body[field] = value  # null lifts the limit
    if not body:
        raise click.UsageError("give what changes: --weight, --max-queued, --max-per-day")
    changed = call_relay(url, "PATCH", _app_path(name), body, _missing(name))
    click.echo(f"{name}: changed ({_settings(changed)})")


@apps.command("alerts")
@relay_option
@click.argument("name")
@click.argument("downstream", required=False)
def alerts(url: str, name: str, downstream: str | None) -> None:
    """Send app NAME's alerts to its downstream DOWNSTREAM.

    App NAME's downstreams' alerts go to its downstream DOWNSTREAM (the name it gave
    it), beside the operator's `[alerts]` one; without DOWNSTREAM, to none of its own.
    Without $RECEIVER_ADMIN_TOKEN, the app's own key in $RECEIVER_API_KEY (scope
    `downstreams`) names its own app's."""
    body = {"alert_downstream": downstream}
    if os.environ.get(TOKEN_ENV) or not os.environ.get(KEY_ENV):
        changed = call_relay(url, "PATCH", _app_path(name), body, _missing(name))
    else:
        changed = _own_alerts(url, name, body)
    click.echo(f"{name}: alerts to {changed['alert_downstream'] or 'none of its downstreams'}")


def _own_alerts(url: str, name: str, body: dict[str, Any]) -> Any:
    """Named with the app's own key: only for the key's own app."""
    from receiver.cli.relay import Relay

    try:
        with Relay(url, os.environ[KEY_ENV].strip(), KEY_ENV) as relay:
            own = relay.call("GET", "/v1/app/alerts")["app"]
            if own != name:
                fail(f"the key in ${KEY_ENV} is app {own!r}'s, not {name!r}'s")
            changed = relay.call("PUT", "/v1/app/alerts", json=body)
    except RemoteError as exc:
        fail(str(exc))
    said(f"through the relay at {url}, with the app's key")
    return changed


@apps.command("list")
@relay_option
def list_apps(url: str) -> None:
    """Every live app, with its weight, limits, keys.

    Its name, weight, limits, live keys, downstreams, when made."""
    with through_relay(url, store_too=False) as relay:
        found = relay.call("GET", "/v1/apps")["apps"]
        downstreams = Counter(d.get("app") for d in every_downstream(relay))
    rows = [
        (
            a["name"],
            a["weight"],
            limits_of(a),
            a["keys"],
            downstreams[a["name"]],
            when(a["created_at"]),
        )
        for a in found
    ]
    click.echo(table(("name", "weight", "limits", "keys", "downstreams", "created"), rows))


@apps.command("show")
@relay_option
@click.argument("name")
def show(url: str, name: str) -> None:
    """App NAME: its weight, limits, keys, downstreams.

    Its live keys (never a key) and its downstreams (APP/NAME)."""
    with through_relay(url, store_too=False) as relay:
        try:
            found = relay.call("GET", _app_path(name))
            keys = relay.call("GET", f"{_app_path(name)}/keys")["keys"]
        except RemoteError as exc:
            if exc.status == 404:
                not_found(_missing(name))
            raise
        # The admin's list names an app's downstream as APP/NAME.
        listed = every_downstream(relay)
    downstreams = [str(d["name"]) for d in listed if d.get("app") == name]
    fields = [
        ("name", found["name"]),
        ("weight", found["weight"]),
        ("limits", limits_of(found)),
        ("created", when(found["created_at"])),
        ("portal framed by", " ".join(found["portal_frame_ancestors"]) or "-"),
        ("alerts to", found.get("alert_downstream") or "-"),
        ("keys", ", ".join(f"{k['name']} ({' '.join(k['scopes'])})" for k in keys) or "-"),
        ("downstreams", ", ".join(downstreams) or "-"),
    ]
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        click.echo(f"{label.ljust(width)}  {value}")


@apps.command("portal-link")
@relay_option
@click.argument("name")
@click.option(
    "--ttl",
    type=_TTLS,
    default=900,
    show_default=True,
    help="Seconds it may be opened in (10 to 86400).",
)
def portal_link(url: str, name: str, ttl: int) -> None:
    """Print a link that opens app NAME's portal once.

    For its owner: printed on stdout."""
    body = {"app": name, "ttl_seconds": ttl}
    made = call_relay(url, "POST", "/v1/portal-links", body, _missing(name))
    click.echo(made["url"])
    click.echo(
        f"{name}: opens once, until {when(made['expires_at'])} UTC; whoever has it may"
        " open it: send it privately",
        err=True,
    )
