"""`receiver config`: the effective configuration, as the relay would run with it."""

from __future__ import annotations

import os

import click

from receiver.cli.common import config_option, fail
from receiver.kernel.errors import ConfigError


@click.group()
def config() -> None:
    """The configuration: file, `RECEIVER__<SECTION>__<KEY>` variables and defaults."""


@config.command()
@config_option
def show(config_path: str | None) -> None:
    """Print the effective configuration as TOML, secrets masked; exit 2 on a problem."""
    from receiver.config import effective_settings
    from receiver.config.show import as_toml, effective, secret_variables

    try:
        settings = effective_settings(config_path)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    click.echo(as_toml(effective(settings), os.environ, secret_variables(settings)), nl=False)
