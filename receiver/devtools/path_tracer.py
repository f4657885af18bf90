"""What a request runs in the relay, traced (`receiver dev trace-callback`, `dev trace-submit`).

A profile function (`sys.setprofile` on the relay's thread, `threading.setprofile` for later
threads) notes each fresh call of a function of the service (under receiver/, not under
receiver/devtools/): the first call of that code object within its asyncio task, or within
its thread outside any loop; a call again, a resumed coroutine, a comprehension or a module
body is not one. The window opens when the relay's application, inside `receiver serve`'s
connection wrappers, receives the path's first request (`opens`), and closes at the
`Db.execute` whose `Sql` starts with `ends`. An idle window (`open_idle`, no request) notes
what the background loops run meanwhile; `Window.without` drops those calls.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

import receiver

ROOT = str(Path(receiver.__file__).parent) + "/"
_DEVTOOLS = ROOT + "devtools/"
_STORE = ROOT + "kernel/store/"
# Counted apart: the infrastructure and the settings every path crosses.
BENEATH = ("kernel", "config")
_NOT_FUNCTIONS = ("<module>", "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")


@dataclass(frozen=True)
class Call:
    """A fresh call: its function's module (dotted), top-level folder and code."""

    module: str
    folder: str
    code: CodeType

    @property
    def name(self) -> str:
        return f"{self.module}.{self.code.co_qualname}"


@dataclass
class TaskCalls:
    """What one asyncio task (or one thread outside a loop) ran in the window."""

    label: str
    kind: str  # the label without a name asyncio made up ("Task-12"): alike in every window
    calls: list[Call] = field(default_factory=list)
    seen: set[CodeType] = field(default_factory=set)

    def modules(self) -> list[str]:
        return list(dict.fromkeys(call.module for call in self.calls))

    def returns(self) -> int:
        """How often this task enters again a folder it left (kernel and config aside)."""
        walk = [c.folder for c in self.calls if c.folder not in BENEATH]
        entered = [f for i, f in enumerate(walk) if i == 0 or walk[i - 1] != f]
        return sum(1 for i, f in enumerate(entered) if f in entered[:i])


def where(code: CodeType) -> tuple[str, str] | None:
    """(module, folder) of a function of the service, or None."""
    path = code.co_filename
    if not path.startswith(ROOT) or path.startswith(_DEVTOOLS):
        return None
    parts = path[len(ROOT) : -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    folder = parts[0] if len(parts) > 1 else "receiver"
    return ".".join(["receiver", *parts]), folder


def lines(code: CodeType) -> int:
    try:
        return len(inspect.getsourcelines(code)[0])
    except (OSError, TypeError):
        return 0


@dataclass(frozen=True)
class Window:
    """What one window held: the tasks with a fresh call, where and by what it ended."""

    tasks: list[TaskCalls]
    ended_in: str | None  # the label of the task that recorded the attempt
    ended_by: str | None  # the function that ran the statement
    seconds: float  # from its opening to its end

    def without(self, idle: Window) -> Window:
        """This window without the calls the same kind of task made in the idle window (a
        background loop's tick), the task that ended it kept."""
        ticks = {(t.kind, c.code) for t in idle.tasks for c in t.calls}
        kept = []
        for task_calls in self.tasks:
            calls = [c for c in task_calls.calls if (task_calls.kind, c.code) not in ticks]
            if calls or task_calls.label == self.ended_in:
                kept.append(TaskCalls(task_calls.label, task_calls.kind, calls))
        return Window(kept, self.ended_in, self.ended_by, self.seconds)


class PathTracer:
    """Opened by the path's first request, closed by the statement that ends it (see the
    module); armed again for the next request once its window is taken."""

    def __init__(self, opens: Callable[[Scope], bool], ends: str) -> None:
        self.opens = opens
        self.ends = ends
        self.tasks: dict[object, TaskCalls] = {}
        self.opened = False
        self.closed = False
        self._opened_at = self._closed_at = 0.0
        # The relay's loop: the simulator's and the sink's, in this process too, are not traced.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ended_in: str | None = None
        self.ended_by: str | None = None
        self._lock = threading.Lock()
        self._where: dict[CodeType, tuple[str, str] | None] = {}

    def install(self) -> None:
        """On every thread started from now on; the relay's are (`wrap` adds its own)."""
        threading.setprofile(self._profile)

    def uninstall(self) -> None:
        threading.setprofile(None)
        sys.setprofile(None)

    def take(self) -> Window:
        """The window just closed; the tracer waits for the next request."""
        with self._lock:
            seconds = self._closed_at - self._opened_at
            held = [s for s in self.tasks.values() if s.calls]
            window = Window(held, self.ended_in, self.ended_by, seconds)
            self.tasks, self.ended_in, self.ended_by = {}, None, None
            self.opened = self.closed = False
        return window

    def open_idle(self) -> None:
        """A window opened with no request, to be closed by `close_idle`."""
        self._opened_at = time.monotonic()
        self.opened = True

    def close_idle(self) -> Window:
        with self._lock:
            self.closed = True
            self._closed_at = time.monotonic()
        return self.take()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The relay's application, opening the window at the path's first request."""

        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            if not self.opened and scope["type"] == "http" and self.opens(scope):
                sys.setprofile(self._profile)  # this loop's thread, already running
                self._loop = asyncio.get_running_loop()
                self._opened_at = time.monotonic()
                self.opened = True
            await app(scope, receive, send)

        return traced

    def _profile(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event != "call" or not self.opened or self.closed:
            return None
        code = frame.f_code
        if code in self._where:
            place = self._where[code]
        else:
            place = self._where[code] = where(code)
        if place is None or code.co_name in _NOT_FUNCTIONS:
            return None
        task_calls = self._calls_of_task()
        if task_calls is None:
            return None
        # Before the freshness test: the statement is run by a function called before.
        ends = code.co_filename.startswith(_STORE) and _runs(frame, self.ends)
        if code in task_calls.seen and not ends:
            return None
        with self._lock:
            if self.closed:
                return None
            if code not in task_calls.seen:
                task_calls.seen.add(code)
                task_calls.calls.append(Call(place[0], place[1], code))
            if ends:
                self.closed = True
                self._closed_at = time.monotonic()
                self.ended_in = task_calls.label
                self.ended_by = _caller(frame)
        return None

    def _calls_of_task(self) -> TaskCalls | None:
        key: object
        loop = asyncio.events._get_running_loop()
        if loop is not None and loop is not self._loop:
            return None
        task = asyncio.current_task(loop) if loop is not None else None
        if task is not None:
            key, label, kind = task, *_task_label(task)
        else:
            where_ = "loop callbacks" if loop is not None else "thread"
            key, label = threading.get_ident(), f"{where_} {threading.current_thread().name}"
            kind = label
        if (task_calls := self.tasks.get(key)) is None:
            task_calls = self.tasks.setdefault(key, TaskCalls(label, kind))
        return task_calls


def _runs(frame: FrameType, statement: str) -> bool:
    if frame.f_code.co_name not in ("execute", "execute_many"):
        return False
    written = getattr(frame.f_locals.get("sql"), "written", None)
    texts = written if isinstance(written, tuple) else (written,)
    return any(isinstance(text, str) and text.startswith(statement) for text in texts)


def _caller(frame: FrameType) -> str | None:
    caller = frame.f_back
    place = where(caller.f_code) if caller is not None else None
    return f"{place[0]}.{caller.f_code.co_qualname}" if caller and place else None


_MADE_UP = re.compile(r"Task-\d+")


def _task_label(task: asyncio.Task[Any]) -> tuple[str, str]:
    """The task's label, and its kind: the label without a name asyncio made up."""
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", type(coro).__name__)
    label = f"{name} ({task.get_name()})"
    return label, name if _MADE_UP.fullmatch(task.get_name()) else label


@dataclass(frozen=True)
class Figures:
    """The counts of issue 73's item 4, over the tasks that made a fresh call."""

    folders: list[str]
    modules: int
    tasks: int
    threads: int
    returns: int
    longest: list[tuple[str, int]]


def figures(tasks: list[TaskCalls], longest: int = 5) -> Figures:
    calls = [call for task_calls in tasks for call in task_calls.calls]
    folders = sorted({c.folder for c in calls} - set(BENEATH))
    functions = {c.code: c.name for c in calls}
    sized = sorted(((name, lines(code)) for code, name in functions.items()), key=_by_size)
    in_tasks = sum(1 for s in tasks if not s.label.startswith(("thread ", "loop ")))
    return Figures(
        folders=folders,
        modules=len({c.module for c in calls}),
        tasks=in_tasks,
        threads=len(tasks) - in_tasks,
        returns=sum(s.returns() for s in tasks),
        longest=sized[:longest],
    )


def _by_size(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]
