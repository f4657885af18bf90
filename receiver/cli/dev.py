"""`receiver dev`: the relay, the CometAPI simulator and a sink on loopback until Ctrl-C,
with a store kept in a folder of its own (receiver/devtools/dev.py)."""

from __future__ import annotations

from pathlib import Path

import click

from receiver.cli.common import fail

_PORT = click.IntRange(0, 65535)


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".receiver-dev"),
    show_default=True,
    help="The store, media copies and secrets, kept between runs.",
)
@click.option(
    "--port",
    type=_PORT,
    default=None,
    help="The relay's port (default: the last"
    " run's when free, else any free one; so are the two below).",
)
@click.option("--simulator-port", type=_PORT, default=None, help="The CometAPI simulator's port.")
@click.option("--sink-port", type=_PORT, default=None, help="The downstream sink's port.")
def dev(folder: Path, port: int | None, simulator_port: int | None, sink_port: int | None) -> None:
    """Run the relay, a CometAPI simulator and a sink on loopback until Ctrl-C, the store kept.

    Prints the `export` lines a shell needs, a console link and the demo app's portal link.
    """
    from receiver.devtools.dev import DevError, Fixed, run_dev
    from receiver.devtools.stack import StackError

    try:
        run_dev(folder, Fixed(relay=port, simulator=simulator_port, sink=sink_port))
    except (DevError, StackError) as exc:
        fail(str(exc))
