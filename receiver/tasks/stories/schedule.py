"""When a task is polled next: the rule of receiver/kernel/events/rules/polling.py fed with
what the store keeps (when the task was first seen running, the history of tasks like
it), inside a poll's or a submit's transaction.
"""

from __future__ import annotations

from receiver.kernel.events.rows import polls
from receiver.kernel.events.rules.polling import (
    HISTORY_SIZE,
    PollRule,
    Seen,
    Window,
    end_from_progress,
    lost_callback_check,
    next_poll,
    timing_key,
    usual_window,
)
from receiver.kernel.store import Task
from receiver.kernel.store.db import Db


def usual(db: Db, task: Task) -> Window | None:
    """Where tasks like this one usually end, from the store's history of them."""
    key = timing_key(task.kind, task.request)
    return usual_window(polls.recent_durations(db, key, HISTORY_SIZE))


def scheduled(
    db: Db, task: Task, seen: tuple[str, float | None], now: float, rule: PollRule
) -> float:
    """The next poll of an unfinished task, from `seen` (its state and the progress CometAPI
    just reported); keeps when it was first seen running and the end its polls aim at."""
    state, progress = seen
    running = state == "running"
    started_at = task.started_at if task.started_at is not None or not running else now
    says_end = progress is not None and end_from_progress(started_at or now, now, progress)
    # The history is read only when the progress says nothing of the end.
    history = usual(db, task) if running and not says_end else None
    chosen = next_poll(Seen(now, task.created_at, running, started_at, progress, history), rule)
    if (started_at, chosen.expected_end) != (task.started_at, task.expected_end_at):
        polls.set_poll_timing(db, task.id, started_at, chosen.expected_end)
    return chosen.at


def first_poll(db: Db, task: Task, grace_at: float, rule: PollRule) -> float:
    """The first poll of a callback-route task: just past where tasks like it usually end,
    in case its callback is lost, but never later than its grace period."""
    check = lost_callback_check(task.created_at, usual(db, task), rule)
    return grace_at if check is None else min(grace_at, check)


def ended(db: Db, task: Task, state: str, now: float) -> None:
    """A task that succeeded joins the history of its kind (failures end anywhere)."""
    if state == "succeeded":
        key = timing_key(task.kind, task.request)
        polls.keep_duration(db, key, now - task.created_at, now, HISTORY_SIZE)
