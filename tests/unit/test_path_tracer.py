"""How `receiver dev trace-callback` and `dev trace-submit` count a traced path: which functions are
the service's, the folder each belongs to, a return to a folder already left within one
task (kernel and config aside), and what a background loop ran in the idle window left out.
The traces themselves are run in tests/e2e/test_trace_callback.py."""

from __future__ import annotations

from types import CodeType

from receiver.callbacks import route
from receiver.devtools import path_tracer
from receiver.devtools.path_tracer import Call, TaskCalls, Window, figures, where
from receiver.kernel.store import db


def _code(module: str) -> CodeType:
    return compile("pass", module, "exec")


def _walk(*folders: str) -> TaskCalls:
    task_calls = TaskCalls("walk", "walk")
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


def test_what_the_same_kind_of_task_ran_idle_is_left_out() -> None:
    # Code objects equal by their contents: each its own.
    tick, path, end = (compile(f"{name} = 1", name, "exec") for name in ("tick", "path", "end"))

    def task(label: str, kind: str, *codes: CodeType) -> TaskCalls:
        return TaskCalls(
            label, kind, [Call(f"receiver.tasks.{c.co_filename}", "tasks", c) for c in codes]
        )

    idle = Window([task("_write (Task-3)", "_write", tick)], None, None, 1.0)
    run = Window(
        [
            task("_write (Task-9)", "_write", tick, path),
            task("poller (poller)", "poller (poller)", tick),  # another kind of task: kept
            task("_write (Task-10)", "_write", tick, end),
            task("_write (Task-11)", "_write", tick),  # nothing left: gone
        ],
        "_write (Task-10)",
        "receiver.tasks.end",
        0.5,
    )
    kept = run.without(idle)
    assert [(t.label, [c.code for c in t.calls]) for t in kept.tasks] == [
        ("_write (Task-9)", [path]),
        ("poller (poller)", [tick]),
        ("_write (Task-10)", [end]),
    ]
    assert (kept.ended_in, kept.seconds) == ("_write (Task-10)", 0.5)
