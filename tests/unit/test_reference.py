"""docs/reference/ is what the code writes (`receiver dev reference docs/reference`), and it
names every config key, every command with its options, every route and every metric: the
guides link there, so a change to the code that the checked-in pages miss fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from receiver.api.routers import openapi
from receiver.cli.main import main
from receiver.config import DownstreamConfig, Settings
from receiver.config.names import place
from receiver.devtools.reference import REFRESH, _metrics, write

REFERENCE = Path(__file__).parents[2] / "docs" / "reference"


def page(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def test_the_checked_in_reference_is_what_the_code_writes(tmp_path: Path) -> None:
    written = write(tmp_path, main)
    assert sorted(p.name for p in written) == sorted(p.name for p in REFERENCE.glob("*.md"))
    for fresh in written:
        assert fresh.read_text(encoding="utf-8") == page(fresh.name), (
            f"docs/reference/{fresh.name} is not what the code writes: run `{REFRESH}`"
            " from the repository's root and commit the result"
        )


def test_every_config_key_is_in_the_reference() -> None:
    text = page("configuration.md")
    for section, field in Settings.model_fields.items():
        if section == "downstream":
            continue
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key in model.model_fields:
            assert f"| `{place(section, key)}` |" in text, place(section, key)
    for key in DownstreamConfig.model_fields:
        assert f"| `{key}` |" in text, f"[[downstream]] {key}"


def _commands(ctx: click.Context) -> Iterator[click.Context]:
    yield ctx
    if isinstance(ctx.command, click.Group):
        for name in ctx.command.list_commands(ctx):
            command = ctx.command.get_command(ctx, name)
            assert command is not None
            yield from _commands(click.Context(command, info_name=name, parent=ctx))


def test_every_command_and_option_is_in_the_reference() -> None:
    text = page("cli.md")
    for ctx in _commands(click.Context(main, info_name="receiver")):
        heading = f"\n## {ctx.command_path}\n"
        assert heading in text, ctx.command_path
        body = text.split(heading, 1)[1].split("\n## ", 1)[0]
        for param in ctx.command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for name in [*param.opts, *param.secondary_opts]:
                    assert name in body, f"{ctx.command_path} {name}"


def test_every_route_is_in_the_reference() -> None:
    lines = page("api.md").splitlines()
    for path, operations in openapi()["paths"].items():
        for method in operations:
            route = f"| {method.upper()} | `{path}"
            assert any(line.startswith((f"{route}`", f"{route}?")) for line in lines), (
                method,
                path,
            )


@pytest.mark.parametrize("metric", _metrics(), ids=lambda m: m[0])
def test_every_metric_is_in_the_reference(metric: tuple[str, str, tuple[str, ...], str]) -> None:
    name, kind, labels, _ = metric
    shown = ", ".join(f"`{label}`" for label in labels) or "—"
    assert f"| `{name}` | {kind} | {shown} |" in page("metrics.md")
