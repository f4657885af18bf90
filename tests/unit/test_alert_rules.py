"""The operator alerts' rule (receiver/alerts/rules.py): at most one alert per downstream
per quiet window whatever its kind, the latest transition held back told at the window's
end when it is news, a recovery told only after a problem told of, the downstreams an
alert goes to, and an app's digest: when it goes, and what it says."""

from __future__ import annotations

import itertools

import pytest

from receiver.alerts.rules import (
    LISTED,
    REASON_CHARS,
    Entry,
    Mark,
    at_window_end,
    decide,
    digest_due,
    digest_fields,
    digest_targets,
    latest,
    quiet_until,
    sent_in_digest,
    targets,
    worth_asking,
)
from receiver.outbox.rules.delivery import TASK_WEBHOOK, owned_name
from receiver.outbox.rules.event_types import DISABLED, FAILING, RECOVERED

pytestmark = pytest.mark.unit

QUIET = 900.0
APP = "app_" + "0" * 24


def told(kinds_at: list[tuple[str, float]], disabled: bool = True) -> list[tuple[str, float]]:
    """What goes out of a run of transitions, each applied to the mark the last left, with
    a tick just before each (and one at the end, long after): what the fan-out does."""
    mark, sent = Mark(), []
    for kind, now in [*kinds_at, ("tick", 1e9)]:
        ended = at_window_end(mark, now, QUIET, disabled)
        if ended is not None:
            mark = ended.mark
            sent += [(ended.send, now)] if ended.send else []
        if kind != "tick":
            decided = decide(mark, kind, "why", now, QUIET)
            mark = decided.mark
            sent += [(decided.send, now)] if decided.send else []
    return sent


def test_one_failing_alert_a_quiet_window_however_often_it_fails() -> None:
    failures = [(FAILING, float(t)) for t in range(0, 1800, 30)]
    # The held repeats are no news at the window's end; the next failure after it is told.
    assert told(failures) == [(FAILING, 0.0), (FAILING, 900.0)]


def test_a_recovery_within_the_window_is_told_when_it_ends() -> None:
    run = [(FAILING, 0.0), (RECOVERED, 120.0), (RECOVERED, 121.0), (RECOVERED, 950.0)]
    assert told(run) == [(FAILING, 0.0), (RECOVERED, 950.0)]


def test_a_recovery_past_the_window_is_told_at_once_and_once() -> None:
    run = [(FAILING, 0.0), (RECOVERED, 1000.0), (RECOVERED, 1001.0)]
    assert told(run) == [(FAILING, 0.0), (RECOVERED, 1000.0)]


def test_the_window_end_tells_the_state_then_not_each_change() -> None:
    # Failing told, recovered and failing again within the window: nothing new to tell.
    run = [(FAILING, 0.0), (RECOVERED, 120.0), (FAILING, 240.0), (FAILING, 1200.0)]
    assert told(run)[:2] == [(FAILING, 0.0), (FAILING, 1200.0)]
    # Recovered told, failing then: the failure goes out once the window is over.
    run = [(FAILING, 0.0), (RECOVERED, 1000.0), (FAILING, 1100.0), (FAILING, 1200.0)]
    assert told(run) == [(FAILING, 0.0), (RECOVERED, 1000.0), (FAILING, 1e9)]


def test_no_recovery_is_told_of_a_problem_never_told() -> None:
    assert told([(RECOVERED, 10.0)]) == []
    assert told([(RECOVERED, 10.0), (RECOVERED, 2000.0)]) == []


def test_flapping_tells_at_most_one_alert_a_window() -> None:
    run = [(k, float(t)) for t in range(0, 3600, 60) for k in (FAILING, RECOVERED)]
    sent = told(run)
    times = [at for _, at in sent]
    assert all(b - a >= QUIET for a, b in itertools.pairwise(times)), sent
    kinds = [kind for kind, _ in sent]
    assert kinds[0] == FAILING and RECOVERED in kinds


def test_being_disabled_just_after_a_failure_waits_for_the_window() -> None:
    run = [(FAILING, 0.0), (DISABLED, 10.0), (FAILING, 20.0), (DISABLED, 30.0)]
    assert told(run) == [(FAILING, 0.0), (DISABLED, 1e9)]
    # Enabled again before the window ended: its being disabled is no longer news.
    assert told(run, disabled=False) == [(FAILING, 0.0)]


def test_a_failure_held_after_a_disabled_alert_is_no_news() -> None:
    assert told([(DISABLED, 0.0), (FAILING, 10.0)]) == [(DISABLED, 0.0)]


def test_the_quiet_window_is_the_settings() -> None:
    mark = decide(Mark(), FAILING, "x", 0.0, 60.0).mark
    assert decide(mark, FAILING, "x", 59.0, 60.0).send is None
    assert decide(mark, FAILING, "x", 60.0, 60.0).send == FAILING
    assert quiet_until(Mark(), 60.0) == float("-inf") and quiet_until(mark, 60.0) == 60.0


def test_a_held_alert_keeps_its_reason_and_waits_for_its_window() -> None:
    mark = decide(Mark(), FAILING, "HTTP 503", 0.0, QUIET).mark
    held = decide(mark, RECOVERED, "through again", 5.0, QUIET)
    assert held.send is None and held.mark.held_kind == RECOVERED
    assert at_window_end(held.mark, 899.0, QUIET, False) is None
    ended = at_window_end(held.mark, 900.0, QUIET, False)
    assert ended is not None and (ended.send, ended.reason) == (RECOVERED, "through again")
    assert ended.mark.held_kind is None and ended.mark.open_kind is None
    assert at_window_end(ended.mark, 2000.0, QUIET, False) is None


def test_a_process_skips_the_store_for_what_it_already_holds() -> None:
    assert not worth_asking(None, RECOVERED, 0.0, QUIET)  # a success, nothing told: free
    assert worth_asking(None, FAILING, 0.0, QUIET)
    failing = decide(Mark(), FAILING, "x", 0.0, QUIET).mark
    assert worth_asking(failing, RECOVERED, 1.0, QUIET)
    assert not worth_asking(failing, FAILING, 1.0, QUIET)  # the window holds it
    assert worth_asking(failing, FAILING, 900.0, QUIET)
    assert worth_asking(failing, DISABLED, 1.0, QUIET)
    held = decide(failing, RECOVERED, "x", 1.0, QUIET).mark
    assert latest(held) == RECOVERED and not worth_asking(held, RECOVERED, 2.0, QUIET)
    assert worth_asking(held, FAILING, 2.0, QUIET)  # a change the store must hear


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


def test_a_digest_waits_for_the_others_then_a_window_after_the_last() -> None:
    assert digest_due(100.0, None, 30.0, QUIET) == 130.0
    assert digest_due(100.0, None, 5000.0, QUIET) == 100.0 + QUIET / 2  # at most half of it
    assert digest_due(100.0, 50.0, 30.0, QUIET) == 50.0 + QUIET  # the one before's window
    assert digest_due(2000.0, 50.0, 30.0, QUIET) == 2030.0


def test_a_digest_of_one_keeps_the_downstreams_own_fields() -> None:
    entry = Entry(owned_name(APP, "crm"), "a delivery went dead: HTTP 503", 10.0)
    fields = digest_fields(FAILING, "acme", [entry])
    assert fields == {
        "downstream": "crm",
        "app": "acme",
        "reason": "a delivery went dead: HTTP 503",
        "failing_since": 10.0,
        "downstreams": [
            {"downstream": "crm", "reason": "a delivery went dead: HTTP 503", "failing_since": 10.0}
        ],
        "more": 0,
    }


def test_a_digest_of_many_names_the_first_and_counts_the_rest() -> None:
    entries = [Entry(f"d{i:02}", "x" * 1000, 50.0 - i) for i in range(40)]
    fields = digest_fields(DISABLED, None, entries)
    assert fields["downstream"] is None and fields["reason"] == "40 downstreams were disabled"
    listed = fields["downstreams"]
    assert isinstance(listed, list) and len(listed) == LISTED and fields["more"] == 40 - LISTED
    assert [d["downstream"] for d in listed] == [f"d{i:02}" for i in range(LISTED)]
    assert all(len(d["reason"]) == REASON_CHARS for d in listed)
    assert fields["failing_since"] == 11.0  # the earliest of all, named or not


def test_a_digest_skips_an_alert_downstream_it_names() -> None:
    def known(name: str) -> bool:
        return name in {"ops", owned_name(APP, "alerts")}

    mine = owned_name(APP, "alerts")
    assert digest_targets(APP, "ops", "alerts", known, {owned_name(APP, "crm")}) == ["ops", mine]
    assert digest_targets(APP, "ops", "alerts", known, {mine}) == ["ops"]
    assert digest_targets(None, "ops", "alerts", known, {"hook"}) == ["ops"]


def test_a_downstreams_window_runs_from_the_digest_that_named_it() -> None:
    joined = decide(Mark(), FAILING, "x", 100.0, QUIET).mark
    sent = sent_in_digest(joined, FAILING, 130.0)
    assert quiet_until(sent, QUIET) == 130.0 + QUIET and sent.open_kind == FAILING
    # Recovered meanwhile (held): only the times move, the held transition stays.
    held = decide(joined, RECOVERED, "ok", 110.0, QUIET).mark
    assert sent_in_digest(held, FAILING, 130.0).held_kind == RECOVERED
    assert sent_in_digest(joined, RECOVERED, 130.0).failing_at == 100.0
