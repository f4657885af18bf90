"""When a callback-route task is polled (`callback_poll`): every `waiting_gap` until CometAPI
says it runs, since CometAPI calls back only when a task ends; then only in case its
callback is lost, from just past where its kind usually ends; the grace's schedule after."""

from __future__ import annotations

from receiver.lifecycle.rules.polling import CallbackPolls, PollRule, Window, callback_poll

LOST = PollRule(near_gap=8.0, window_seconds=3.0)
PLAN = CallbackPolls(grace_at=1600.0, later_at=1700.0, waiting_gap=5.0, lost=LOST, lost_polls=3)
CREATED = 1000.0
USUAL = Window(40.0, 80.0)  # the check: 1000 + 80 + 3


def test_a_task_not_yet_started_is_asked_every_waiting_gap() -> None:
    assert callback_poll(PLAN, "queued", CREATED, None, 1005.0) == 1010.0
    assert callback_poll(PLAN, "queued", CREATED, USUAL, 1597.0) == 1600.0  # not past the grace


def test_a_running_task_waits_for_its_callback_without_history() -> None:
    assert callback_poll(PLAN, "running", CREATED, None, 1010.0) == 1600.0


def test_a_running_task_is_looked_at_where_its_kind_usually_ends() -> None:
    assert callback_poll(PLAN, "running", CREATED, USUAL, 1010.0) == 1083.0
    assert callback_poll(PLAN, "running", CREATED, USUAL, 1083.1) == 1091.1
    assert callback_poll(PLAN, "running", CREATED, USUAL, 1091.2) == 1099.2
    assert callback_poll(PLAN, "running", CREATED, USUAL, 1099.3) == 1600.0  # three looked


def test_past_the_grace_the_backoff_decides_and_none_means_none() -> None:
    assert callback_poll(PLAN, "queued", CREATED, USUAL, 1600.0) == 1700.0
    assert callback_poll(PLAN, "running", CREATED, USUAL, 1650.0) == 1700.0
    no_looks = CallbackPolls(1600.0, 1700.0, 5.0, LOST, 0)
    assert callback_poll(no_looks, "running", CREATED, USUAL, 1010.0) == 1600.0
