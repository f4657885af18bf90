"""A time on the command line (`tail --since`, `downstreams enable --recover-since`): epoch
seconds, an RFC 3339 time, or a while ago (`10m`); anything else refused in words."""

from __future__ import annotations

import time

import click
import pytest

from receiver.cli.common import moment

pytestmark = pytest.mark.unit


def _read(value: str) -> float | None:
    ctx = click.Context(click.Command("tail"))
    return moment(ctx, click.Option(["--since"]), value)


def test_epoch_seconds_and_rfc_3339_name_the_same_moment() -> None:
    assert _read("1777627800") == 1777627800.0
    assert _read("2026-05-01T09:30:00Z") == 1777627800.0
    assert _read("2026-05-01T11:30:00+02:00") == 1777627800.0
    assert _read("2026-05-01 09:30:00") == 1777627800.0  # UTC unless it says


@pytest.mark.parametrize(
    ("typed", "seconds"), [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)]
)
def test_a_while_ago(typed: str, seconds: float) -> None:
    before = time.time()
    found = _read(typed)
    assert found is not None and before - seconds - 1 <= found <= time.time() - seconds


@pytest.mark.parametrize("typed", ["yesterday", "10 minutes", "-5m", "10x", "nan"])
def test_anything_else_is_refused_in_words(typed: str) -> None:
    with pytest.raises(click.BadParameter, match=r"RFC 3339 time .* or a while ago"):
        _read(typed)
