"""The operator alerts' dedupe rule (receiver/alerts/rules.py): at most one alert of a kind
per downstream per quiet window, a recovery told only after a problem told of, and the
downstreams an alert goes to."""

from __future__ import annotations

import pytest

from receiver.alerts.rules import Mark, after, due, quiet_until, targets
from receiver.lifecycle.rules.catalog import DISABLED, FAILING, RECOVERED
from receiver.lifecycle.rules.routing import TASK_WEBHOOK, owned_name

pytestmark = pytest.mark.unit

QUIET = 900.0
APP = "app_" + "0" * 24


def told(kinds_at: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """What goes out of a run of transitions, each applied to the mark the last left."""
    mark, sent = Mark(), []
    for kind, now in kinds_at:
        if due(mark, kind, now, QUIET):
            mark = after(mark, kind, now)
            sent.append((kind, now))
    return sent


def test_one_failing_alert_a_quiet_window_however_often_it_fails() -> None:
    failures = [(FAILING, float(t)) for t in range(0, 1800, 30)]
    assert told(failures) == [(FAILING, 0.0), (FAILING, 900.0)]


def test_a_recovery_answers_a_failing_alert_once() -> None:
    run = [(FAILING, 0.0), (RECOVERED, 60.0), (RECOVERED, 61.0)]
    assert told(run) == [(FAILING, 0.0), (RECOVERED, 60.0)]


def test_no_recovery_is_told_of_a_problem_never_told() -> None:
    assert told([(RECOVERED, 10.0)]) == []
    # A failure within the quiet window is not told, so neither is its end.
    run = [(FAILING, 0.0), (RECOVERED, 60.0), (FAILING, 120.0), (RECOVERED, 180.0)]
    assert told(run) == [(FAILING, 0.0), (RECOVERED, 60.0)]


def test_flapping_tells_at_most_one_failure_a_window() -> None:
    run = [(k, float(t)) for t in range(0, 3600, 60) for k in (FAILING, RECOVERED)]
    failing = [at for kind, at in told(run) if kind == FAILING]
    assert failing == [0.0, 900.0, 1800.0, 2700.0]


def test_being_disabled_is_told_even_just_after_a_failure() -> None:
    run = [(FAILING, 0.0), (DISABLED, 10.0), (FAILING, 20.0), (DISABLED, 30.0)]
    # The dead letter of the 410 that disabled it says nothing more.
    assert told(run) == [(FAILING, 0.0), (DISABLED, 10.0)]


def test_a_disabled_alert_holds_back_failing_ones_for_its_window() -> None:
    mark = after(Mark(), DISABLED, 100.0)
    assert quiet_until(mark, FAILING, QUIET) == 1000.0
    assert not due(mark, FAILING, 999.0, QUIET)
    assert due(mark, FAILING, 1000.0, QUIET)
    assert due(mark, RECOVERED, 101.0, QUIET)


def test_the_quiet_window_is_the_settings() -> None:
    mark = after(Mark(), FAILING, 0.0)
    assert not due(mark, FAILING, 59.0, 60.0)
    assert due(mark, FAILING, 60.0, 60.0)
    assert quiet_until(Mark(), FAILING, 60.0) == float("-inf")


def test_an_alert_goes_to_the_operators_and_the_apps_downstream() -> None:
    def known(name: str) -> bool:
        return name in {"ops", "hook", owned_name(APP, "alerts")}

    assert targets("hook", "ops", None, known) == ["ops"]
    assert targets(owned_name(APP, "crm"), "ops", "alerts", known) == [
        "ops",
        owned_name(APP, "alerts"),
    ]
    assert targets(owned_name(APP, "crm"), "", "alerts", known) == [owned_name(APP, "alerts")]
    # An app's choice counts for its own downstreams only.
    assert targets("hook", "", "alerts", known) == []


def test_an_alert_never_goes_to_what_it_is_about_nor_nowhere() -> None:
    def known(name: str) -> bool:
        return name in {"ops", "hook"}

    assert targets("ops", "ops", None, known) == []
    assert targets("hook", "missing", None, known) == []
    assert targets(TASK_WEBHOOK, "ops", None, known) == []
    assert targets(owned_name(APP, "alerts"), "ops", "alerts", known) == ["ops"]
