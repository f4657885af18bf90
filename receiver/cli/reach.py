"""How a command reaches a relay's state: through the running relay's API, as every command
does unless told otherwise (its address from --relay or $RECEIVER_URL, the admin token in
$RECEIVER_ADMIN_TOKEN or, where the API allows, an app's key in $RECEIVER_API_KEY); or,
asked with --store, the store itself, for recovery when no relay runs. Each command says on
stderr which it used, once it has done what it was asked."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import click
from click.core import ParameterSource

from receiver import CONFIG_ENV
from receiver.cli.common import C, fail, not_found, stacked
from receiver.cli.remote import DEFAULT_URL, KEY_ENV, TOKEN_ENV, URL_ENV, RemoteError

if TYPE_CHECKING:
    from receiver.cli.relay import Relay

# The task-webhook's deliveries are listed under this name (outbox/rules/delivery.py).
TASK_WEBHOOK = "task-webhook"


def _old_spelling(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta["relay url"] = value


def _relay_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--relay's value; else --url's, its older spelling (hidden), over the variable."""
    if ctx.get_parameter_source(str(param.name)) is ParameterSource.COMMANDLINE:
        return value
    return str(ctx.meta.get("relay url", value))


# The relay's address, spelt one way on every command.
relay_only_option = click.option(
    "--relay",
    "url",
    envvar=URL_ENV,
    default=DEFAULT_URL,
    show_default=True,
    metavar="URL",
    callback=_relay_url,
    help=f"The running relay's address (or ${URL_ENV}).",
)
# ... with `--url`, its older name, still taken (hidden), where no other URL is given.
relay_option = stacked(
    relay_only_option,
    click.option(
        "--url", "old_url", hidden=True, expose_value=False, is_eager=True, callback=_old_spelling
    ),
)


def store_options(command: C) -> C:
    """--relay, and --store with --config for working on the store instead."""
    return stacked(
        relay_option,
        click.option(
            "--store",
            "on_store_asked",
            is_flag=True,
            help="Work on the store itself, not through a relay: for recovery when none"
            " runs (the store of --config, else of $RECEIVER_CONFIG).",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="With --store (which it implies): the relay's TOML config (default:"
            f" ${CONFIG_ENV}).",
        ),
    )(command)


def on_store(asked: bool, config_path: str | None) -> bool:
    """Whether the store itself was asked for: --store, or a --config given."""
    return asked or config_path is not None


def relay_of(url: str, app_key: bool = False, store_too: bool = False) -> Relay:
    """The relay at `url` with the admin token, else (`app_key`: where the API takes one)
    an app's key; without either, one line saying what to set."""
    from receiver.cli.relay import Relay

    if token := os.environ.get(TOKEN_ENV, "").strip():
        return Relay(url, token, TOKEN_ENV)
    if app_key and (key := os.environ.get(KEY_ENV, "").strip()):
        return Relay(url, key, KEY_ENV)
    wanted = f"${TOKEN_ENV}" + (f" (or an app's key in ${KEY_ENV})" if app_key else "")
    instead = "; or, with no relay running, --store works on its store" if store_too else ""
    fail(f"no token to ask the relay at {url} with: set {wanted}{instead}")


@contextmanager
def through_relay(url: str, app_key: bool = False, store_too: bool = True) -> Iterator[Relay]:
    """The relay at `url`, said on stderr once the command is done. What it refuses is one
    line, exit 2; what is not there, exit 1; a relay out of reach names --store
    (`store_too`: the command can work on the store)."""
    try:
        with relay_of(url, app_key, store_too) as relay:
            yield relay
    except RemoteError as exc:
        if exc.status == 404:
            not_found(str(exc))
        hint = " (no relay running? --store works on its store)" if store_too else ""
        fail(f"{exc}{hint if exc.status is None else ''}")
    said(f"through the relay at {url}")


def call_relay(
    url: str, method: str, path: str, body: dict[str, Any] | None = None, missing: str = ""
) -> Any:
    """One call of the admin API, said on stderr; a failure is one line, exit 2, and a 404
    the line `missing` says (what was asked for is not there), exit 1, when it says one."""
    try:
        with relay_of(url) as relay:
            answer = relay.call(method, path, json=body)
    except RemoteError as exc:
        if exc.status == 404 and missing:
            not_found(missing)
        fail(str(exc))
    said(f"through the relay at {url}")
    return answer


def said(where: str) -> None:
    """The one line on stderr that says which way a command went."""
    click.echo(f"({where})", err=True)


def shown_store(url: str) -> str:
    """A storage URL as it may be printed: without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def every_downstream(relay: Relay) -> list[dict[str, Any]]:
    """Every downstream the caller sees, page after page (`next_cursor`, until null or
    absent: a relay that answers one page only)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = relay.call("GET", "/v1/downstreams", params=params)
        found.extend(page["downstreams"])
        cursor = page.get("next_cursor")
        if not cursor or cursor in seen:
            return found
        seen.add(cursor)


def shown_names(listed: list[dict[str, Any]]) -> Callable[[str], str]:
    """A downstream as people read it: an app's `APP/NAME`, as the admin's list names it,
    for the `<app id>.NAME` that deliveries and tasks carry; any other name as it is. The
    list names no app id: a NAME that two apps' downstreams share stays as it is kept."""
    by_own: dict[str, list[str]] = {}
    for d in listed:
        if d.get("app"):
            by_own.setdefault(_own(d), []).append(str(d["name"]))

    def shown(kept: str) -> str:
        owner, dot, own = kept.partition(".")
        found = by_own.get(own, []) if dot and owner.startswith(("app_", "key_")) else []
        return found[0] if len(found) == 1 else kept

    return shown


def kept_name(listed: list[dict[str, Any]], typed: str) -> str:
    """The name the relay's routes know `typed` by (an app's `APP/NAME` as `<app id>.NAME`
    for the admin); one that is not there is one line, exit 1, naming the apps' downstreams
    of that name, which is what a bare name may have meant."""
    if typed == TASK_WEBHOOK:
        return typed
    for d in listed:
        if str(d["name"]) == typed:
            return typed  # the routes take an app's as `APP/NAME`
    meant = [str(d["name"]) for d in listed if d.get("app") and _own(d) == typed]
    hint = f" (an app's is named APP/NAME: {', '.join(meant)})" if meant else ""
    not_found(f"no downstream named {typed!r}{hint}")


def _own(downstream: dict[str, Any]) -> str:
    """An app's downstream's own NAME, from the `APP/NAME` the admin's list gives."""
    return str(downstream["name"]).partition("/")[2]
