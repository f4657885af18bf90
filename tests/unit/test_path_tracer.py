"""How `receiver trace-callback` counts a traced path: which functions are the service's, the
folder each belongs to, and a return to a folder already left within one task (kernel and
config aside). The trace itself is run in tests/e2e/test_trace_callback.py."""

from __future__ import annotations

from types import CodeType

from receiver.callbacks import route
from receiver.devtools import path_tracer
from receiver.devtools.path_tracer import Call, TaskCalls, figures, where
from receiver.kernel.store import db


def _code(module: str) -> CodeType:
    return compile("pass", module, "exec")


def _walk(*folders: str) -> TaskCalls:
    task_calls = TaskCalls("walk")
    for n, folder in enumerate(folders):
        task_calls.calls.append(Call(f"receiver.{folder}.m{n}", folder, _code(f"{folder}{n}")))
    return task_calls


def test_the_service_is_traced_not_the_devtools() -> None:
    assert where(route.Callback.__call__.__code__) == ("receiver.callbacks.route", "callbacks")
    assert where(db.new_id.__code__) == ("receiver.kernel.store.db", "kernel")
    assert where(path_tracer.where.__code__) is None
    assert where(_code("/elsewhere/x.py")) is None


def test_a_return_is_entering_again_a_folder_left() -> None:
    assert _walk("callbacks", "lifecycle", "lifecycle").returns() == 0
    # lifecycle left for wiring, then entered again; callbacks entered again: 2.
    assert _walk("callbacks", "lifecycle", "wiring", "lifecycle", "callbacks").returns() == 2
    # The kernel and the config are crossed by every path: they neither count nor split.
    assert _walk("callbacks", "kernel", "callbacks", "config", "callbacks").returns() == 0


def test_figures_count_folders_besides_the_kernel_and_tasks_apart_from_threads() -> None:
    thread = _walk("kernel")
    thread.label = "thread sqlite-commit_0"
    counted = figures([_walk("callbacks", "kernel", "polls", "callbacks"), thread])
    assert counted.folders == ["callbacks", "polls"]
    assert (counted.modules, counted.tasks, counted.threads, counted.returns) == (5, 1, 1, 1)
