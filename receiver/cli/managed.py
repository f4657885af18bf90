"""`receiver downstreams create|change|rotate|remove`: downstreams made at runtime, through a
running relay's API (it seals their secrets, and every replica follows within a tick). An
app's is named APP/NAME, as everywhere on the command line: made with the app as its
`owner`, addressed by the name the admin's routes know it by."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache
from typing import TYPE_CHECKING, Any

import click

from receiver.cli.common import fail, stacked
from receiver.cli.credentials import credential_options, credential_settings, needs_current
from receiver.cli.reach import (
    every_downstream,
    kept_name,
    relay_only_option,
    relay_option,
    through_relay,
)
from receiver.cli.tables import counted, when

if TYPE_CHECKING:
    from receiver.cli.relay import Relay
    from receiver.destinations.options import Offered


def _relay(url: str) -> AbstractContextManager[Relay]:
    """The relay at `url`; what it refuses is one line, a name that is no downstream exit 1,
    as everywhere on the command line."""
    return through_relay(url, store_too=False)


def _admin_name(relay: Relay, typed: str) -> str:
    """The name the admin's routes address `typed` by: an app's APP/NAME as its kept name
    (read from the list, which names each one's app), a global name as it is."""
    if "/" not in typed:
        return typed
    return kept_name(every_downstream(relay), typed)


def _call(url: str, method: str, typed: str, action: str = "") -> Any:
    """`method` on the downstream `typed` names (`action`: the route under it)."""
    with _relay(url) as relay:
        return relay.call(method, f"/v1/downstreams/{_admin_name(relay, typed)}{action}")


def _change(url: str, typed: str, options: dict[str, Any]) -> dict[str, Any]:
    """The change the options make, sent: a new `auth` or `tls` is made over the
    downstream's current one (read first), so that a field not given stays."""
    to = options.pop("to")
    with _relay(url) as relay:
        path = f"/v1/downstreams/{_admin_name(relay, typed)}"
        current = relay.call("GET", path) if needs_current(options) else {}
        body = {**credential_settings(options, current), **_expressions(options)}
        body.update(_settings(options))
        if to is not None:
            body["url"] = to
        if not body:
            fail("nothing to change: give --to or a setting")
        relay.call("PATCH", path, json=body)
        return body


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """The options given, taken out of `options`, as the API's fields (a broker's target
    under its format's name)."""
    fmt, target = options.pop("fmt"), options.pop("target")
    body: dict[str, Any] = {} if fmt is None else {"format": fmt}
    for key in ("events", "channels"):
        if values := options.pop(key):
            body[key] = list(values)
    if target is not None:
        body[_target_option(fmt)] = target
    for flag in _option_flags():
        if (value := options.pop(str(flag.name))) is not None:
            body[str(flag.name)] = value
    return body


def _target_option(fmt: str | None) -> str:
    """The setting --target fills for this format, or one line naming the formats that
    take one."""
    from receiver.destinations.registry import target_option

    try:
        return target_option(fmt)
    except ValueError as exc:
        fail(str(exc))


def pulled(fmt: str) -> bool:
    """Whether a downstream of format `fmt` is read by its app at the pull endpoint (it has
    no breaker and makes no attempts)."""
    from receiver.destinations.registry import read_by_pull

    return read_by_pull(fmt)


def _expressions(options: dict[str, Any]) -> dict[str, Any]:
    """--filter, --transform and each --header NAME=VALUE, taken out of `options`."""
    body: dict[str, Any] = {}
    for key in ("filter", "transform"):
        if (value := options.pop(key, None)) is not None:
            body[key] = value
    headers = options.pop("headers", ())
    for header in headers:
        name, equals, value = header.partition("=")
        if not equals or not name:
            fail(f"--header takes NAME=VALUE, not {name!r}")
        body.setdefault("headers", {})[name.strip()] = value
    return body


def _show_once(answer: dict[str, Any]) -> None:
    """A `whsec_` secret on stdout (for a pipe), with its warning on stderr; of an ed25519
    key (whose private half never leaves the relay) the public key receivers verify with,
    and its key id with rfc9421."""
    if answer.get("secret"):
        click.echo(f"secret: {answer['secret']}")
    if answer.get("public_key"):
        click.echo(f"public key: {answer['public_key']}")
    if answer.get("key_id"):
        click.echo(f"key id: {answer['key_id']}")
    if answer.get("secret"):
        click.echo("keep the secret now: it is not shown again", err=True)


def _flag(option: Offered) -> click.Option:
    """An option's flag: `--name VALUE`, a choice of a Literal's, `--name/--no-name` a bool's."""
    if option.kind is bool:
        flag = f"{option.flag}/--no-{option.flag.removeprefix('--')}"
        return click.Option([flag, option.name], default=None, help=option.description)
    kind = click.Choice(option.choices) if option.choices else option.kind
    return click.Option([option.flag, option.name], type=kind, help=option.description)


@cache
def _option_flags() -> tuple[click.Option, ...]:
    """A flag for each of a downstream's options, read from its model when a command uses
    them."""
    from receiver.config.downstream import OPTIONS

    return tuple(_flag(option) for option in OPTIONS)


class _WithOptions(click.Command):
    """A command whose flags for a downstream's options, before --filter, are read from its
    model when it is used (its --help too): the command line starts without the model."""

    added = False

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self.added:
            at = next(i for i, p in enumerate(self.params) if p.name == "filter")
            self.params[at:at] = _option_flags()
            self.added = True
        return super().get_params(ctx)


_setting_options = stacked(
    click.option("--format", "fmt", help="webhook (default), a chat format or a broker."),
    click.option("--event", "events", multiple=True, help="A state it takes (repeat)."),
    click.option("--channel", "channels", multiple=True, help="Only tasks naming it (repeat)."),
    click.option(
        "--target",
        help="A broker's routing key, subject, topic or stream, or s3's key template.",
    ),
    click.option("--filter", help="CEL: the events it takes (docs/delivery.md)."),
    click.option("--transform", help="CEL: the body it is sent (webhook, brokers)."),
    click.option("--header", "headers", multiple=True, help="NAME=VALUE sent with each (repeat)."),
)


@click.command("create", cls=_WithOptions)
@relay_only_option
@click.argument("name")
@click.argument("target_url", metavar="DOWNSTREAM_URL")
@_setting_options
@credential_options
def create(url: str, name: str, target_url: str, **options: Any) -> None:
    """Make downstream NAME; prints its secret, this once.

    It delivers to DOWNSTREAM_URL (its own address, never the relay's: that is --relay)."""
    from receiver.config.downstream import OPTIONS

    credentials = credential_settings(options, {})
    expressions = _expressions(options)
    app, slash, own = name.partition("/")
    # APP/NAME: the app's own, made by the admin for it.
    named = {"name": own, "owner": app} if slash else {"name": name}
    body = {**named, "url": target_url, **_settings(options), **expressions, **credentials}
    with _relay(url) as relay:
        made = relay.call("POST", "/v1/downstreams", json=body)
    # What it was made with that changes how it delivers, said as the relay took it.
    told = "".join(
        f", {o.told.format(made[o.name])}" for o in OPTIONS if o.told and made.get(o.name)
    )
    click.echo(f"{name}: made ({made['format']}, events {', '.join(made['events'])}{told})")
    _show_once(made)


@click.command("change", cls=_WithOptions)
@relay_only_option
@click.argument("name")
@click.option("--to", help="A new URL.")
@_setting_options
@credential_options
def change(url: str, name: str, **options: Any) -> None:
    """Change downstream NAME (one made through the API)."""
    body = _change(url, name, options)
    click.echo(f"{name}: changed ({', '.join(sorted(body))})")
    if "signing" in body:
        click.echo(
            f"the new signing takes effect at the rotation: receiver downstreams rotate {name}",
            err=True,
        )


@click.command("rotate")
@relay_option
@click.argument("name")
def rotate(url: str, name: str) -> None:
    """A new secret for NAME; the old one signs too, for a while.

    Beside the new one, until the time it prints (delivery.rotation_overlap_seconds)."""
    rotated = _call(url, "POST", name, "/rotate-secret")
    _show_once(rotated)
    until = when(rotated["previous_secret_until"])
    click.echo(f"{name}: the old secret signs too, beside the new one, until {until} UTC", err=True)


@click.command("remove")
@relay_option
@click.argument("name")
def remove(url: str, name: str) -> None:
    """Remove NAME; its waiting deliveries end as dead letters."""
    removed = _call(url, "DELETE", name)
    ended = counted(removed["deliveries_ended"], "waiting delivery", "waiting deliveries")
    click.echo(f"{name}: removed; {ended} ended")


@click.command("validate")
@relay_option
@click.argument("name")
def validate(url: str, name: str) -> None:
    """Ask NAME's endpoint again whether it takes CloudEvents.

    The CloudEvents webhook handshake: allowed, what it held goes out; refused, it stays
    held, and why."""
    found = _call(url, "POST", name, "/validate")
    if not found["allowed"]:
        fail(f"{name}: still held: {found['reason']}", 1)
    rate = found["allowed_rate"]
    at = f", at most {rate:g} a minute" if rate else ""
    queued = counted(found["queued"], "held delivery", "held deliveries")
    click.echo(f"{name}: allowed{at}; {queued} queued again")
