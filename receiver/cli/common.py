"""What the commands share: the lazy group, the --config option, reading the settings, and
the way every command fails (one line on stderr, exit status 2). The service is imported
inside the command that uses it, so that `--help` loads no more than click."""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from receiver import CONFIG_ENV
from receiver.kernel.errors import ConfigError

if TYPE_CHECKING:
    from receiver.config import Settings

C = TypeVar("C", bound=Callable[..., Any])


class LazyGroup(click.Group):
    """A group whose commands are named in a table, `name: ("module:attribute", short help)`,
    each imported when called or asked for its help; the group's help lists them from the
    table (tests/unit/test_cli_lean.py holds its short help the command's own)."""

    def __init__(
        self,
        *args: Any,
        lazy: Mapping[str, tuple[str, str]],
        sections: Mapping[str, tuple[str, ...]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        # Headings of the help's list, each over the commands it names, where a group mixes
        # commands that work on the store with those that ask a running relay.
        self.sections = sections or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name][0].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's list, the short help of a command not imported taken from the table."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name) or click.Command(name, help=self.lazy[name][1])
            rows.append((name, command.get_short_help_str(limit)))
        for heading, named in self.sections.items() or [("Commands", tuple(names))]:
            with formatter.section(heading):
                formatter.write_dl([row for row in rows if row[0] in named])


class ChoiceOf(click.Choice):  # type: ignore[type-arg]  # click 8.1: not generic
    """click's Choice among the values a module names (`"module:attribute"`), imported when
    first needed: to check a value, or for the help of a command that takes them."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.case_sensitive = True

    @cached_property
    def choices(self) -> Sequence[str]:  # type: ignore[override]
        module, _, attribute = self.where.partition(":")
        return tuple(getattr(importlib.import_module(module), attribute))


def stacked(*given: Callable[[C], C]) -> Callable[[C], C]:
    """Several click options as one decorator, in the order given."""

    def apply(command: C) -> C:
        for option in reversed(given):
            command = option(command)
        return command

    return apply


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"TOML config file (default: ${CONFIG_ENV}, else built-in defaults).",
)


# A terminal's escape sequences (CSI, OSC and the rest), then any control character left,
# and the marks that reorder text on screen (bidirectional overrides and isolates).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """`text` as a terminal may show it: what another party wrote (a relay's answer, an
    event) can neither move the cursor, retitle the window, nor hide a line."""
    return _ESCAPES.sub("", text)


def fail(message: str, status: int = 2) -> NoReturn:
    """One line on stderr, every secret the process knows cut out of it (and whatever a
    terminal would take as a command)."""
    from receiver.kernel.observability.logs import scrub

    click.echo(f"receiver: {printable(scrub(message))}", err=True)
    sys.exit(status)


def typed_secret(prompt: str) -> str:
    """Typed at a prompt that does not echo, else (stdin no terminal) the first line piped in."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    typed = click.prompt(prompt, hide_input=True, err=True, default="", show_default=False)
    return str(typed)


def not_found(message: str) -> NoReturn:
    """What was asked for is not there: exit status 1, as a failed task's."""
    fail(message, status=1)


# A while ago, as people type it: `90s`, `10m`, `2h`, `1d`.
_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An option's time as the API takes it: epoch seconds, an RFC 3339 (ISO 8601) time,
    UTC unless it says otherwise, or a while ago (`10m`, `2h`, `1d`)."""
    import time

    from receiver.kernel.moments import epoch_seconds

    if value is None:
        return None
    if ago := _AGO.fullmatch(value.strip()):
        return time.time() - float(ago[1]) * _UNIT_SECONDS[ago[2]]
    try:
        return epoch_seconds(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is no time: give epoch seconds, an RFC 3339 time"
            " (2026-05-01T09:30:00Z) or a while ago (10m, 2h, 1d)",
            ctx,
            param,
        ) from None


def settings_of(config_path: str | None) -> Settings:
    """The settings alone, without the secrets: what the tools over the store need."""
    from receiver.config import read_settings
    from receiver.kernel.observability.logs import add_secrets

    try:
        settings = read_settings(config_path or os.environ.get(CONFIG_ENV) or None)
    except ConfigError as exc:
        fail(f"config error: {exc}")
    add_secrets([settings.storage.password])
    installed_for(settings)
    return settings


def installed_for(settings: Settings) -> None:
    """Exit in one line when a configured feature's extra of the package is missing."""
    from receiver.config.downstream import require_extras
    from receiver.kernel.extras import require, require_configured

    media = settings.media.store if settings.media.enabled else None
    try:
        require_configured(settings.storage.url, media)
        require_extras(settings.downstream)
        if settings.mcp.enabled == "on":
            require("mcp", '[mcp] enabled = "on"')
    except ConfigError as exc:
        fail(f"config error: {exc}")


def store_url(config_path: str | None, settings: Settings) -> str:
    """The storage URL of a command that reads the store: a SQLite file that is not there
    is refused in one line (opening it would make an empty one, and show nothing)."""
    from pathlib import Path

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
