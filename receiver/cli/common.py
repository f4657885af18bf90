"""What the commands share: the --config option, reading the settings, and the way every
command fails (one line on stderr, exit status 2)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from receiver.config import CONFIG_ENV, Settings, read_settings
from receiver.destinations.registry import require_extras
from receiver.kernel.errors import ConfigError
from receiver.kernel.extras import require, require_configured
from receiver.kernel.moments import epoch_seconds
from receiver.kernel.observability.logs import add_secrets, scrub

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"TOML config file (default: ${CONFIG_ENV}, else built-in defaults).",
)


def fail(message: str, status: int = 2) -> NoReturn:
    """One line on stderr, every secret the process knows cut out of it."""
    click.echo(f"receiver: {scrub(message)}", err=True)
    sys.exit(status)


def not_found(message: str) -> NoReturn:
    """What was asked for is not there: exit status 1, as a failed task's."""
    fail(message, status=1)


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An option's time as the API takes it: epoch seconds, or ISO 8601 (UTC unless it
    says otherwise)."""
    if value is None:
        return None
    try:
        return epoch_seconds(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} {exc}", ctx, param) from None


def settings_of(config_path: str | None) -> Settings:
    """The settings alone, without the secrets: what the tools over the store need."""
    try:
        settings = read_settings(config_path or os.environ.get(CONFIG_ENV) or None)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    add_secrets([settings.storage.password])
    installed_for(settings)
    return settings


def installed_for(settings: Settings) -> None:
    """Exit in one line when a configured feature's extra of the package is missing."""
    media = settings.media.store if settings.media.enabled else None
    try:
        require_configured(settings.storage.url, media)
        require_extras({d.format for d in settings.downstream})
        if settings.mcp.enabled == "on":
            require("mcp", '[mcp] enabled = "on"')
    except ConfigError as exc:
        fail(f"config error: {exc}")


def store_url(config_path: str | None, settings: Settings) -> str:
    """The storage URL of a command that reads the store: a SQLite file that is not there
    is refused in one line (opening it would make an empty one, and show nothing)."""
    url = settings.storage.url
    if not url.startswith("sqlite:///"):
        return url
    path = Path(url.removeprefix("sqlite:///"))
    if not path.exists():
        given = config_path or os.environ.get(CONFIG_ENV)
        source = f"the storage.url of {given}" if given else "the default storage.url (no config)"
        fail(
            f"no store at {path.resolve()}, {source}: give the relay's config"
            f" (--config or ${CONFIG_ENV})"
        )
    return url
