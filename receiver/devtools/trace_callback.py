"""`receiver trace-callback`: the relay's path from CometAPI's callback to the webhook's
recorded attempt, measured in a running relay (issue 73, item 4; docs/development.md).

Starts the simulator, a webhook sink and the relay on loopback (devtools/stack.py, with
the default relay's media and intervals), submits video2video tasks (each finished by its
callback) one after another, traces each window receiver/devtools/path_tracer.py
describes, and prints the folders, modules, asyncio tasks, returns and longest functions
the quietest crossed, then each task's walk.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import httpx

from receiver.devtools.path_tracer import BENEATH, ROOT, Figures, PathTracer, Window, figures
from receiver.devtools.stack import SINK_SECRET_ENV, LocalStack, StackError
from receiver.kernel.observability import logs
from receiver.kernel.secrets import signing as sign

_TIMEOUT = 60.0


def _webhook(sink_url: str) -> list[dict[str, Any]]:
    # Terminal states only (the default): the one attempt is the callback's answer's.
    return [
        {
            "name": "webhook",
            "url": f"{sink_url}/hooks/relay",
            "format": "webhook",
            "secret_env": SINK_SECRET_ENV,
        }
    ]


def _as_default(settings: dict[str, Any]) -> None:
    """The default relay's: no copies of the renders, its own scan intervals (a scan that
    ticks in the window is traced with it); the first scheduled poll well after the
    callback (about 3 s after the submit), so that the callback, not a poll, ends the task
    however busy the machine is."""
    settings["media"]["enabled"] = False
    settings["advanced"] = {"polling": {"initial_delay_seconds": 30}}


def run_trace(as_json: bool, runs: int) -> int:
    logs.configure("warning")
    admin = secrets.token_urlsafe(24)
    env = {
        "COMETAPI_KEY": "trace-" + secrets.token_hex(8),
        "RECEIVER_ADMIN_TOKEN": admin,
        "RECEIVER_SECRET": secrets.token_urlsafe(32),
        SINK_SECRET_ENV: sign.new_secret(),
    }
    tracer = PathTracer()
    tracer.install()  # before the relay's threads start, so that each is traced
    try:
        with tempfile.TemporaryDirectory(prefix="runway-relay-trace-") as tmp:
            stack = LocalStack(Path(tmp), env, _webhook, tune=_as_default)
            assert stack.relay.app is not None  # LocalStack gives each server its app
            stack.relay.app = tracer.wrap(stack.relay.app)
            with stack:
                windows = _drive(stack.relay.url, admin, tracer, runs)
    except StackError as exc:
        click.echo(f"receiver: {exc}", err=True)
        return 2
    finally:
        tracer.uninstall()
    if len(windows) < runs:
        click.echo("receiver: no attempt was recorded after the callback", err=True)
        return 1
    # A background tick in a window only adds to it: the quietest is the path itself.
    quietest = min(windows, key=_noise)
    if as_json:
        click.echo(json.dumps(_as_json(windows, quietest), indent=1))
    else:
        _print(windows, quietest)
    return 0


def _noise(window: Window) -> tuple[int, int, int]:
    f = figures(window.tasks)
    return f.modules, f.tasks + f.threads, f.returns


def _drive(relay_url: str, admin: str, tracer: PathTracer, runs: int) -> list[Window]:
    """One task after another, each window taken once its attempt is recorded."""
    headers = {"Authorization": f"Bearer {admin}"}
    windows = []
    with httpx.Client(base_url=relay_url, headers=headers, timeout=10) as client:
        client.get("/readyz", timeout=_TIMEOUT).raise_for_status()
        for _ in range(runs):
            # Called back 3.5 s after its send (the simulator's `run=`): half a tick off the
            # submitter's, which ticks each second from the send, so that the quietest run
            # is the path's own, not the submitter's next look at its queue.
            task = {
                "kind": "video2video",
                "video": "https://example.invalid/source.mp4",
                "prompt": "traced run=2.5",
            }
            client.post("/v1/tasks", json=task).raise_for_status()
            deadline = time.monotonic() + _TIMEOUT
            while not tracer.closed and time.monotonic() < deadline:
                time.sleep(0.05)
            if not tracer.closed:
                break
            windows.append(tracer.take())
    return windows


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


def _as_json(windows: list[Window], quietest: Window) -> dict[str, Any]:
    return {
        "commit": _commit(),
        "runs": [asdict(figures(w.tasks)) for w in windows],
        "figures": asdict(figures(quietest.tasks)),
        "ended_in": quietest.ended_in,
        "ended_by": quietest.ended_by,
        "tasks": [
            {
                "label": s.label,
                "returns": s.returns(),
                "calls": [c.name for c in s.calls],
                "modules": s.modules(),
            }
            for s in quietest.tasks
        ],
    }


def _print(windows: list[Window], quietest: Window) -> None:
    f = figures(quietest.tasks)
    beneath = " and ".join(f"{name}/" for name in BENEATH)
    click.echo(f"from the callback's request to the attempt's record, at {_commit() or '?'}")
    click.echo(f"(the quietest of {len(windows)} runs; folders, modules, tasks, returns of each:")
    click.echo("  " + "; ".join(_brief(figures(w.tasks)) for w in windows) + ")")
    click.echo(f"  folders besides {beneath}: {len(f.folders)} ({', '.join(f.folders)})")
    click.echo(f"  modules: {f.modules}")
    click.echo(f"  asyncio tasks: {f.tasks} (and {f.threads} thread(s) outside a loop)")
    click.echo(f"  returns to a folder already left, within one task: {f.returns}")
    click.echo("  longest functions on the path (lines):")
    for name, size in f.longest:
        click.echo(f"    {size:4d}  {name}")
    for n, task_calls in enumerate(quietest.tasks, 1):
        ended = task_calls.label == quietest.ended_in
        end = f", the attempt recorded by {quietest.ended_by}" if ended else ""
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
