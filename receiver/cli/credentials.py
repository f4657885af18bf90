"""The options of `receiver downstreams create|change` for the API's `auth`, `tls` and
`proxy`. No secret is a value on the command line, where the shell's history and `ps` would
show it: it comes from the variable an option names, else a prompt that does not echo; a
client key from its file. A change with no new secret sends back the API's mask, which
keeps the one kept."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from receiver.cli.common import fail, stacked, typed_secret

MASK = "***"  # how the API shows a secret, and what a change sends back to keep it
# Each kind of auth: its secret (option, field).
_SECRET = {
    "basic": ("password_env", "password"),
    "bearer": ("token_env", "token"),
    "oauth2": ("client_secret_env", "client_secret"),
}
_SECRET_OPTIONS = tuple(option for option, _ in _SECRET.values())
_TLS_OPTIONS = ("tls_client_cert", "tls_client_key", "tls_ca")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Reads one secret: (what it is, the environment variable named for it, or None).
ReadSecret = Callable[[str, str | None], str]


@cache
def _auth_fields() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Each kind of auth: the fields its options give (its secret aside), and those it
    needs, as its model declares them: read when a command runs (the model is pydantic)."""
    from receiver.config.downstream import AUTH_FIELDS, AUTH_NEEDS

    def given(fields: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {k: tuple(f for f in named if f != _SECRET[k][1]) for k, named in fields.items()}

    return given(AUTH_FIELDS), given(AUTH_NEEDS)


def _auth_options() -> tuple[str, ...]:
    """Every auth option but a secret's, each once."""
    return tuple(dict.fromkeys(f for fields in _auth_fields()[0].values() for f in fields))


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def read_secret(what: str, variable: str | None) -> str:
    """The secret from the variable named, else typed at a prompt that does not echo, else
    (stdin no terminal) the first line piped in. Never echoed, never in a message."""
    if variable is not None:
        if not _VARIABLE.match(variable):  # maybe the secret itself, given by mistake
            fail(f"the {what} comes from an environment variable: give its name")
        value = os.environ.get(variable, "")
        if not value:
            fail(f"${variable} is not set: it holds the {what}")
        return value
    value = typed_secret(f"The {what}")
    if not value:
        fail(f"no {what} given: name its environment variable, or type it at the prompt")
    return value


def _given(options: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The options among `names` given a value, taken out of `options`."""
    taken = {name: options.pop(name, None) for name in names}
    return {name: value for name, value in taken.items() if value not in (None, False)}


def _auth(
    kind: str | None, given: Mapping[str, Any], current: Any, read: ReadSecret
) -> dict[str, Any]:
    """`auth` from the options over the downstream's current one (as the API shows it): a
    field not given stays, and so does the secret when the kind stays."""
    before = current if isinstance(current, dict) else {}
    kind = kind or before.get("type")
    if kind is None:
        fail(f"{_flag(next(iter(given)))} goes with --auth basic|bearer|oauth2")
    secret_option, secret_field = _SECRET[kind]
    fields, needed = (found[kind] for found in _auth_fields())
    for option in given:
        if option not in (*fields, secret_option):
            fail(f"{_flag(option)} is not a setting of --auth {kind}")
    kept = before if before.get("type") == kind else {}
    auth: dict[str, Any] = {"type": kind}
    for field in fields:
        value = given.get(field, kept.get(field))
        if value:  # an empty value (--scope '') leaves it out
            auth[field] = value
    for field in needed:
        if field not in auth:
            fail(f"--auth {kind} needs {_flag(field)}")
    if secret_option in given or not kept:
        auth[secret_field] = read(
            f"{kind} {secret_field.replace('_', ' ')}", given.get(secret_option)
        )
    else:
        auth[secret_field] = MASK
    return auth


def _tls(given: Mapping[str, Any], current: Any) -> dict[str, Any]:
    """`tls` from the files given over the current one (its key shown masked, kept so)."""
    tls = dict(current) if isinstance(current, dict) else {}
    for option, field in zip(_TLS_OPTIONS, ("client_cert", "client_key", "ca"), strict=True):
        if option in given:
            try:
                tls[field] = Path(given[option]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"{_flag(option)}: cannot read {given[option]}: {type(exc).__name__}")
    return tls


def _proxy(given: Mapping[str, Any]) -> str:
    """The proxy's URL: as given, unless it carries a password, which comes from the
    environment (--proxy-env) as every secret does."""
    if "proxy_env" in given:
        return read_secret("proxy URL", given["proxy_env"])
    url = str(given["proxy"])
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None  # the API says what is wrong with it
    if password is not None:
        fail("--proxy: a URL with a password goes in an environment variable: --proxy-env NAME")
    return url


def needs_current(options: Mapping[str, Any]) -> bool:
    """Whether a change's new `auth` or `tls` is made over the downstream's current one."""
    names = ("auth", *_auth_options(), *_SECRET_OPTIONS, *_TLS_OPTIONS)
    return any(options.get(name) is not None for name in names)


def credential_settings(
    options: dict[str, Any], current: Mapping[str, Any], read: ReadSecret = read_secret
) -> dict[str, Any]:
    """`auth`, `tls` and `proxy` as the API takes them, from their options (taken out of
    `options`) over `current`, the downstream as the API shows it (empty: a new one);
    `--no-auth`, `--no-tls` and `--no-proxy` remove one (null)."""
    kind = options.pop("auth", None)
    auth = _given(options, (*_auth_options(), *_SECRET_OPTIONS))
    tls = _given(options, _TLS_OPTIONS)
    proxy = _given(options, ("proxy", "proxy_env"))
    body: dict[str, Any] = {}
    for name, wanted, removed in (
        ("auth", kind or auth, options.pop("no_auth", False)),
        ("tls", tls, options.pop("no_tls", False)),
        ("proxy", proxy, options.pop("no_proxy", False)),
    ):
        if wanted and removed:
            fail(f"--no-{name} removes {name}: give no {name} setting with it")
        if removed:
            body[name] = None
    if len(proxy) > 1:
        fail("give --proxy or --proxy-env, not both")
    if kind or auth:
        body["auth"] = _auth(kind, auth, current.get("auth"), read)
    if tls:
        body["tls"] = _tls(tls, current.get("tls"))
    if proxy:
        body["proxy"] = _proxy(proxy)
    return body


_SECRET_HELP = "{}: the environment variable holding the {} (else prompted)."
# The options, on `create` and `change`.
credential_options = stacked(
    click.option(
        "--auth",
        type=click.Choice(sorted(_SECRET)),
        help="How it proves itself to the endpoint: HTTP Basic, a bearer token, or"
        " an OAuth2 token fetched with client credentials.",
    ),
    click.option("--username", help="basic: the user name."),
    click.option("--password-env", metavar="NAME", help=_SECRET_HELP.format("basic", "password")),
    click.option("--token-env", metavar="NAME", help=_SECRET_HELP.format("bearer", "token")),
    click.option("--token-url", help="oauth2: the token endpoint."),
    click.option("--client-id", help="oauth2: the client's id."),
    click.option(
        "--client-secret-env",
        metavar="NAME",
        help=_SECRET_HELP.format("oauth2", "client secret"),
    ),
    click.option("--scope", help="oauth2: the scope asked for ('' for none)."),
    click.option("--audience", help="oauth2: the audience asked for ('' for none)."),
    click.option("--no-auth", is_flag=True, help="Remove its auth."),
    click.option(
        "--tls-client-cert",
        type=click.Path(exists=True, dir_okay=False),
        help="PEM file: the client certificate for mutual TLS (with its key).",
    ),
    click.option(
        "--tls-client-key",
        type=click.Path(exists=True, dir_okay=False),
        help="PEM file: the certificate's private key (sealed by the relay).",
    ),
    click.option(
        "--tls-ca",
        type=click.Path(exists=True, dir_okay=False),
        help="PEM file: a private CA, trusted alone for its endpoint.",
    ),
    click.option("--no-tls", is_flag=True, help="Remove its tls."),
    click.option("--proxy", metavar="URL", help="Its own HTTP proxy (no password)."),
    click.option(
        "--proxy-env",
        metavar="NAME",
        help="The environment variable holding a proxy URL with a password.",
    ),
    click.option("--no-proxy", is_flag=True, help="Remove its own proxy."),
)
