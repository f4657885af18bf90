"""The effective configuration as a file would say it (`receiver config show`), with no
secret: every URL's user part and query values are masked, a chat webhook's whole path (it
is the credential), and the variables holding secrets are only said to be set."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from receiver.config.downstream import SECRET_OF, DownstreamConfig
from receiver.config.names import ADVANCED
from receiver.config.settings import Settings

MASK = "********"


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _masked_url(url: str) -> str:
    """`url` with its user part and every query value masked; a URL that cannot be read,
    masked whole (start-up refuses it anyway)."""
    try:
        parts = urlsplit(url)
        for server in parts.netloc.rpartition("@")[2].split(","):  # a broker list: h1:1,h2:2
            urlsplit(f"//{server}").port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return MASK
    if "@" not in parts.netloc and not parts.query and not parts.fragment:
        return url  # nothing to mask (and `sqlite:///x` kept as it is said)
    _, at, host = parts.netloc.rpartition("@")
    netloc = f"{MASK}@{host}" if at else host
    # Only the names stay: a value, or a bare word (`?<token>`), may be the credential.
    query = "&".join(
        f"{item.partition('=')[0]}={MASK}" if "=" in item else MASK
        for item in parts.query.split("&")
        if item
    )
    # Put together by hand: urlunsplit drops the `//` of an empty host (`sqlite:///x`).
    tail = (f"?{query}" if query else "") + (f"#{MASK}" if parts.fragment else "")
    return f"{parts.scheme}://{netloc}{parts.path}{tail}"


def _masked_urls(value: Any) -> Any:
    """Every URL among the settings' values (lists and tables walked) masked."""
    if isinstance(value, str):
        return _masked_url(value) if _URL.match(value) else value
    if isinstance(value, list):
        return [_masked_urls(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked_urls(v) for k, v in value.items()}
    return value


def _masked_downstream(downstream: dict[str, Any], model: DownstreamConfig) -> dict[str, Any]:
    # A header's value is a credential as often as not (an API key): shown as set, never read.
    if isinstance(headers := downstream.get("headers"), dict) and headers:
        downstream = {**downstream, "headers": dict.fromkeys(headers, MASK)}
    # The endpoint's credentials: the one secret of each, as set, never read.
    if isinstance(auth := downstream.get("auth"), dict):
        downstream = {**downstream, "auth": auth | {SECRET_OF[auth["type"]]: MASK}}
    if isinstance(tls := downstream.get("tls"), dict) and tls.get("client_key"):
        downstream = {**downstream, "tls": tls | {"client_key": MASK}}
    url = downstream.get("url")
    if not isinstance(url, str):
        return downstream
    # Slack, Discord, Telegram: the path or query is the credential.
    hidden = model.masked_url(MASK)
    return {**downstream, "url": _masked_url(url) if hidden is None else hidden}


def effective(settings: Settings) -> dict[str, Any]:
    """The settings in the file's shape, secrets masked."""
    dumped = settings.model_dump(mode="json")
    shaped: dict[str, Any] = {}
    advanced: dict[str, dict[str, Any]] = {}
    for section, values in dumped.items():
        if isinstance(values, list):
            models = getattr(settings, section)
            shaped[section] = [
                _masked_downstream(*each) for each in zip(values, models, strict=True)
            ]
            continue
        knobs = ADVANCED.get(section, frozenset())
        shaped[section] = {k: v for k, v in values.items() if k not in knobs}
        if tuning := {k: v for k, v in values.items() if k in knobs}:
            advanced[section] = tuning
    shaped["storage"]["url"] = _masked_url(settings.storage.url)  # sqlite:///... too
    masked: dict[str, Any] = _masked_urls({**shaped, "advanced": advanced})
    return masked


def secret_variables(settings: Settings) -> list[str]:
    """The environment variables the settings read secrets (or secret URLs) from."""
    s = settings
    names = [
        s.upstream.api_key_env,
        s.server.admin_token_env,
        s.server.metrics_token_env,
        s.callbacks.secret_env,
        *s.callbacks.previous_secret_envs,
        s.delivery.task_webhook_secret_env,
    ]
    if s.media.enabled and s.media.store == "s3":
        names += [s.media.access_key_id_env, s.media.secret_access_key_env]
    for d in s.downstream:
        names += [d.secret_env or "", d.url_env or ""]
        names += [d.auth_secret_env or "", d.client_key_env or ""]
    return list(dict.fromkeys(n for n in names if n))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings quoted and escaped as TOML's basic strings are


def _table(name: str, body: Mapping[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    lines += [f"{k} = {_value(v)}" for k, v in body.items() if v is not None]
    return lines


def as_toml(shaped: Mapping[str, Any], environ: Mapping[str, str], secrets: list[str]) -> str:
    """The effective settings as TOML, then which secret variables are set."""
    lines: list[str] = []
    for section, body in shaped.items():
        if section == "advanced":
            for inner, knobs in body.items():
                lines += ["", *_table(f"advanced.{inner}", knobs)]
        elif isinstance(body, list):
            for item in body:
                lines += ["", f"[[{section}]]", *_table(section, item)[1:]]
        else:
            lines += ["", *_table(section, body)]
    lines += ["", "# The secrets, read from the environment (their values are never shown):"]
    lines += [f"# ${name}: {'set' if environ.get(name) else 'NOT SET'}" for name in secrets]
    return "\n".join(lines).lstrip("\n") + "\n"
