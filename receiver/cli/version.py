"""`receiver version`: what is installed, for a bug report or an image scan: the release,
the commit it was built from, and the extras whose libraries are there."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click
import orjson

from receiver.kernel.extras import EXTRAS, installed

# Set where no checkout is at hand (an image: deploy/build-here.sh writes it).
COMMIT_ENV = "RUNWAY_RELAY_COMMIT"
# Traces are switched on by OTEL_* variables, not by a config key, so receiver/kernel/
# extras.py (features refused without their extra) leaves theirs out; it is said here (not
# imported from receiver/kernel/observability/tracing.py, which `--help` would then load).
TRACES = "otel"
TRACES_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")


def release() -> str:
    try:
        return version("runway-relay")
    except PackageNotFoundError:
        return "unknown"


def commit() -> str | None:
    """The commit of the checkout the package runs from, else $RUNWAY_RELAY_COMMIT."""
    here = Path(__file__).resolve().parents[2]
    if (here / ".git").exists():
        try:
            found = subprocess.run(
                ["git", "-C", str(here), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            return found.stdout.strip()
        except (OSError, subprocess.SubprocessError):  # no git, a timeout, no commit
            pass
    return os.environ.get(COMMIT_ENV) or None


def installed_extras() -> list[str]:
    found = [extra for extra in EXTRAS if installed(extra)]
    try:
        traces = all(importlib.util.find_spec(m) is not None for m in TRACES_MODULES)
    except ModuleNotFoundError:  # no opentelemetry package at all
        traces = False
    return sorted([*found, TRACES] if traces else found)


@click.command("version")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for a script.")
def show_version(as_json: bool) -> None:
    """The release, its commit and the extras installed."""
    made, extras = commit(), installed_extras()
    if as_json:
        found = {"release": release(), "commit": made, "extras": extras}
        click.echo(orjson.dumps(found).decode())
        return
    click.echo(f"runway-relay {release()} (commit {made or 'unknown'})")
    click.echo(f"extras: {', '.join(extras) or 'none'}")
