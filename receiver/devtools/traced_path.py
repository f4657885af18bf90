"""`receiver dev trace-callback` and `dev trace-submit`: a path through the relay measured
in a running relay (docs/development.md, "A request's path, measured").

The stack of stack.py, the relay as `receiver serve` runs it, with the default relay's
intervals, no media copies and alerts on a downstream of their own. An app's key submits
video2video tasks one after another, each window traced by path_tracer.py. The first run
warms the relay up and is not counted; an idle window three times as long then notes what
the background loops run by themselves, left out of each counted run. Printed: the median
run (by modules, then returns) with its figures, then its walk task by task.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from starlette.types import Scope

from receiver.devtools.path_tracer import BENEATH, ROOT, Figures, PathTracer, Window, figures
from receiver.devtools.stack import LocalStack, StackError, new_secrets, sink_webhook
from receiver.kernel.observability import logs

_TIMEOUT = 60.0


@dataclass(frozen=True)
class TracedPath:
    """What `receiver trace-…` measures: from the request `opens` lets through to the store
    statement starting with `ends`."""

    what: str  # "from … to …", printed first
    opens: Callable[[Scope], bool]
    ends: str


def _callback(scope: Scope) -> bool:
    # The URL CometAPI is given, stable whatever the route's code.
    return str(scope["path"]).startswith("/callbacks/")


def _submit(scope: Scope) -> bool:
    return bool(scope["method"] == "POST" and scope["path"] == "/v1/tasks")


# `receiver trace-callback` (issue 73, item 4) and `receiver trace-submit` (issue 81).
CALLBACK = TracedPath(
    "from the callback's request to the attempt's record",
    _callback,
    "INSERT INTO delivery_attempts",
)
SUBMIT = TracedPath(
    "from the submit's request to its send's record",
    _submit,
    "INSERT INTO submit_attempts",
)


def _downstreams(sink_url: str) -> list[dict[str, Any]]:
    # Terminal states only (the default): a task's one webhook is its end's. The alerts'
    # downstream takes them alone (a channel no task names), as config.example.toml's.
    return [
        sink_webhook(sink_url, "webhook"),
        {**sink_webhook(sink_url, "alerts", "alerts"), "channels": ["alerts-only"]},
    ]


def _as_default(settings: dict[str, Any]) -> None:
    """The default relay's: no copies of the renders, its own scan intervals (a scan that
    ticks in the window is left out by the idle window); alerts on; /metrics not bound."""
    settings["media"]["enabled"] = False
    settings["server"]["metrics_listen"] = ""
    settings["alerts"] = {"downstream": "alerts"}
    # The first poll well after the callback (about 3 s after the submit), and the callback's
    # answer waited for, however busy the machine is: else a poll, or a claim kept alone and
    # a poll brought forward, would end the task by a path of its own, not the one measured.
    settings["advanced"] = {
        "polling": {"initial_delay_seconds": 30},
        "callbacks": {"ask_within_seconds": 30},
    }


def run_trace(path: TracedPath, as_json: bool, runs: int) -> int:
    logs.configure("warning")
    env = new_secrets("trace-")
    tracer = PathTracer(path.opens, path.ends)
    tracer.install()  # before the relay's threads start, so that each is traced
    try:
        with tempfile.TemporaryDirectory(prefix="runway-relay-trace-") as tmp:
            stack = LocalStack(
                Path(tmp),
                env,
                _downstreams,
                tune=_as_default,
                served=tracer.wrap,
            )
            with stack:
                traced = _drive(stack.relay.url, env["RECEIVER_ADMIN_TOKEN"], tracer, runs)
    except StackError as exc:
        click.echo(f"receiver: {exc}", err=True)
        return 2
    finally:
        tracer.uninstall()
    if traced is None:
        click.echo(f"receiver: the window did not close ({path.what})", err=True)
        return 1
    idle, windows = traced
    kept = [w.without(idle) for w in windows]
    median = sorted(kept, key=_order)[(len(kept) - 1) // 2]
    if as_json:
        click.echo(json.dumps(_as_json(kept, median, idle), indent=1))
    else:
        _print(path, kept, median, idle)
    return 0


def _order(window: Window) -> tuple[int, int]:
    f = figures(window.tasks)
    return f.modules, f.returns


def _drive(
    relay_url: str, admin: str, tracer: PathTracer, runs: int
) -> tuple[Window, list[Window]] | None:
    """The warm-up run, the idle window, then the runs: each run's window taken once it
    closes, the next run (or the idle window) started once its task's webhook is recorded
    as delivered (nothing of it left in flight). None when a window did not close in time."""
    admin_header = {"Authorization": f"Bearer {admin}"}
    with (
        httpx.Client(base_url=relay_url, timeout=10) as client,
        httpx.Client(base_url=relay_url, timeout=10, headers=admin_header) as operator,
    ):
        operator.get("/readyz", timeout=_TIMEOUT).raise_for_status()
        made = operator.post("/v1/keys", json={"name": "traced", "scopes": ["tasks:submit"]})
        made.raise_for_status()
        client.headers["Authorization"] = f"Bearer {made.json()['key']}"
        windows = []
        for n in range(runs + 1):
            window = _one(client, operator, tracer)
            if window is None:
                return None
            if n == 0:
                tracer.open_idle()
                # Three times the warm-up window: on a loaded machine a loop's rarer ticks
                # (an alert's check, a directory refresh) were missed by a shorter one.
                time.sleep(max(3 * window.seconds, 5.0))
                idle = tracer.close_idle()
            else:
                windows.append(window)
    return idle, windows


def _one(client: httpx.Client, operator: httpx.Client, tracer: PathTracer) -> Window | None:
    # Called back 3.5 s after its send (the simulator's `run=`): half a tick off the
    # submitter's, which ticks each second from the send.
    task = {
        "kind": "video2video",
        "video": "https://example.invalid/source.mp4",
        "prompt": "traced run=2.5",
    }
    submitted = client.post("/v1/tasks", json=task)
    submitted.raise_for_status()
    if not _wait(lambda: tracer.closed, _TIMEOUT):
        return None
    window = tracer.take()
    task_path = f"/v1/tasks/{submitted.json()['id']}"

    def delivered() -> bool:
        deliveries = operator.get(task_path).raise_for_status().json()["deliveries"]
        return bool(deliveries) and all(d["state"] == "succeeded" for d in deliveries)

    return window if _wait(delivered, _TIMEOUT) else None


def _wait(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return done()


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def _as_json(windows: list[Window], median: Window, idle: Window) -> dict[str, Any]:
    return {
        "commit": _commit(),
        "runs": [asdict(figures(w.tasks)) for w in windows],
        "figures": asdict(figures(median.tasks)),
        "seconds": median.seconds,
        "idle_seconds": idle.seconds,
        "idle": [{"label": s.label, "calls": [c.name for c in s.calls]} for s in idle.tasks],
        "ended_in": median.ended_in,
        "ended_by": median.ended_by,
        "tasks": [
            {
                "label": s.label,
                "returns": s.returns(),
                "calls": [c.name for c in s.calls],
                "modules": s.modules(),
            }
            for s in median.tasks
        ],
    }


def _print(path: TracedPath, windows: list[Window], median: Window, idle: Window) -> None:
    f = figures(median.tasks)
    beneath = " and ".join(f"{name}/" for name in BENEATH)
    idle_calls = sum(len(s.calls) for s in idle.tasks)
    click.echo(f"{path.what}, at {_commit() or '?'}")
    click.echo(
        f"(the median of {len(windows)} runs, each without what the background loops ran in"
        f" an idle window of {idle.seconds:.2f} s: {idle_calls} calls;"
    )
    click.echo(" folders, modules, tasks, returns of each run:")
    click.echo("  " + "; ".join(_brief(figures(w.tasks)) for w in windows) + ")")
    click.echo(f"  folders besides {beneath}: {len(f.folders)} ({', '.join(f.folders)})")
    click.echo(f"  modules: {f.modules}")
    click.echo(f"  asyncio tasks: {f.tasks} (and {f.threads} thread(s) outside a loop)")
    click.echo(f"  returns to a folder already left, within one task: {f.returns}")
    click.echo("  longest functions on the path (lines):")
    for name, size in f.longest:
        click.echo(f"    {size:4d}  {name}")
    for n, task_calls in enumerate(median.tasks, 1):
        ended = task_calls.label == median.ended_in
        end = f", the path ended by {median.ended_by}" if ended else ""
        click.echo(f"\n{n}. {task_calls.label}: {task_calls.returns()} returns{end}")
        folder = None
        for module in task_calls.modules():
            here = module.split(".")[1] if module.count(".") > 1 else "receiver"
            if here != folder:
                click.echo(f"  {here}/")
                folder = here
            click.echo(f"    {module}")


def _brief(f: Figures) -> str:
    return f"{len(f.folders)}, {f.modules}, {f.tasks}, {f.returns}"
