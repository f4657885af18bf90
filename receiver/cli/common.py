"""What the commands share: the --config option, reading the settings, and the way every
command fails (one line on stderr, exit status 2)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from receiver.config import CONFIG_ENV, Settings, read_settings
from receiver.errors import ConfigError
from receiver.observability.logs import add_secrets, scrub

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"TOML config file (default: ${CONFIG_ENV}, else built-in defaults).",
)


def fail(message: str) -> NoReturn:
    """One line on stderr, every secret the process knows cut out of it."""
    click.echo(f"receiver: {scrub(message)}", err=True)
    sys.exit(2)


def settings_of(config_path: str | None) -> Settings:
    """The settings alone, without the secrets: what the tools over the store need."""
    try:
        settings = read_settings(config_path or os.environ.get(CONFIG_ENV) or None)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    add_secrets([settings.storage.password])
    return settings
