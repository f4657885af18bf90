"""The command line starts lean: importing it, `receiver --help` and every command's
--help load none of the service's heavy libraries (the commands import them when they run),
but the two whose flags are a downstream's options, read from its model; and the group
lists each command with the short help the command gives itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

from receiver.cli.common import LazyGroup
from receiver.cli.main import main

HEAVY = (
    "aiohttp",
    "httpx",
    "structlog",
    "cryptography",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
)

# In a fresh interpreter: what importing the CLI loads, then what every command's --help
# loads, and each one's exit status.
PROBE = """
import contextlib, io, json, sys
import click
from receiver.cli.main import main

imported = sorted(sys.modules)

def paths(group, path):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from paths(command, [*path, name])

statuses = {}
def helped(path):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = main([*path, "--help"], prog_name="receiver", standalone_mode=False)
    usage = " ".join(["Usage: receiver", *path])
    statuses[" ".join(path)] = [status, out.getvalue().startswith(usage)]

every = [[], *paths(main, [])]
for path in every:
    if " ".join(path) not in MODELLED:
        helped(path)
lean = sorted(sys.modules)
for path in every:
    if " ".join(path) in MODELLED:
        helped(path)
print(json.dumps({"imported": imported, "helped": lean, "statuses": statuses}))
"""
# Their flags are a downstream's options, read from its model (pydantic) when they are used.
MODELLED = ("downstreams create", "downstreams change")


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", f"MODELLED = {MODELLED!r}\n{PROBE}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, object] = json.loads(out)
    return found


def _heavy(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def test_importing_the_cli_loads_no_heavy_library_and_no_command(probe: dict[str, object]) -> None:
    imported = probe["imported"]
    assert _heavy(imported) == []
    assert isinstance(imported, list)
    cli = sorted(m for m in imported if m.startswith("receiver.cli."))
    assert cli == ["receiver.cli.common", "receiver.cli.main"]


def test_every_commands_help_loads_no_heavy_library(probe: dict[str, object]) -> None:
    assert _heavy(probe["helped"]) == []


def test_every_commands_help_is_shown(probe: dict[str, object]) -> None:
    statuses = probe["statuses"]
    assert isinstance(statuses, dict)
    assert "tasks list" in statuses and "downstreams create" in statuses
    assert {path: s for path, s in statuses.items() if s != [0, True]} == {}


def _lazy_groups(group: click.Group) -> Iterator[LazyGroup]:
    ctx = click.Context(group)
    if isinstance(group, LazyGroup):
        yield group
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _lazy_groups(command)


def test_the_table_gives_each_command_its_own_short_help() -> None:
    """At any width: the listing cuts the table's text as click cuts the command's help."""
    groups = list(_lazy_groups(main))
    assert {g.name for g in groups} == {"main", "downstreams", "dev"}
    for group in groups:
        ctx = click.Context(group)
        for name, (_, text) in group.lazy.items():
            command = group.get_command(ctx, name)
            assert command is not None and command.name == name
            listed = click.Command(name, help=text)
            for limit in range(10, 120):
                assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), name


def _groups(group: click.Group, path: list[str]) -> Iterator[list[str]]:
    ctx = click.Context(group)
    yield path
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _groups(command, [*path, name])


def test_every_groups_help_shows_each_summary_whole_at_80_columns() -> None:
    """A summary cut mid-sentence (`...`) says less than it seems to (issue 92)."""
    from click.testing import CliRunner

    for path in _groups(main, []):
        shown = CliRunner().invoke(main, [*path, "--help"], terminal_width=80).output
        listed = shown.partition("Options:")[2]
        assert "..." not in listed.replace("(whsec_...)", ""), (path, listed)


def test_the_developers_tools_are_under_dev_not_beside_the_operators() -> None:
    ctx = click.Context(main)
    listed = main.list_commands(ctx)
    assert not {"trace-callback", "trace-submit", "reference"} & set(listed)
    dev = main.get_command(ctx, "dev")
    assert isinstance(dev, click.Group)
    assert {"trace-callback", "trace-submit", "reference"} <= set(dev.list_commands(ctx))
