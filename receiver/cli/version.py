"""`receiver version`: what is installed, for a bug report or an image scan: the release,
the commit it was built from, and the extras whose libraries are there."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click
import orjson

from receiver.kernel.extras import EXTRAS, installed

# Set where no checkout is at hand (an image: deploy/build-here.sh writes it).
COMMIT_ENV = "RUNWAY_RELAY_COMMIT"


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
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            found = None
        if found is not None and found.returncode == 0:
            return found.stdout.strip()
    return os.environ.get(COMMIT_ENV) or None


@click.command("version")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for a script.")
def show_version(as_json: bool) -> None:
    """The release, the commit it was built from, and the extras installed."""
    made, extras = commit(), [extra for extra in sorted(EXTRAS) if installed(extra)]
    if as_json:
        found = {"release": release(), "commit": made, "extras": extras}
        click.echo(orjson.dumps(found).decode())
        return
    click.echo(f"runway-relay {release()} (commit {made or 'unknown'})")
    click.echo(f"extras: {', '.join(extras) or 'none'}")
