"""`receiver dev trace-callback` and `receiver dev trace-submit`, run as a developer runs them: the
relay as `receiver serve` runs it, alerts on, an app's key submitting; the trace from the
path's request to the statement that records its attempt is found and counted, and the
median of the runs is held to the targets (issues 73 and 81; docs/development.md): for a
callback at most five folders besides the kernel and the configuration, thirty modules and
ten returns to a folder already left within one asyncio task; for a submit six folders,
thirty-five modules and ten returns; no function on a callback's path over sixty lines."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

MAX_FUNCTION_LINES = 60


def _traced(command: str, runs: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "dev", command, "--json", "--runs", str(runs)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    traced: dict[str, Any] = json.loads(done.stdout)
    assert len(traced["runs"]) == runs
    print(json.dumps(traced["figures"]))  # seen with -s: the figures at this commit
    return traced


def _within(traced: dict[str, Any], folders: int, modules: int, returns: int) -> None:
    figures, tasks = traced["figures"], traced["tasks"]
    # It ends at the store's statement that records the attempt, in a later task.
    [ended] = [t for t in tasks if t["label"] == traced["ended_in"]]
    assert ended is not tasks[0] and traced["ended_by"] in ended["calls"]
    assert figures["tasks"] >= 2
    assert len(figures["folders"]) <= folders, figures["folders"]
    assert figures["modules"] <= modules, [t["modules"] for t in tasks]
    assert figures["returns"] <= returns, [(t["label"], t["returns"]) for t in tasks]


def test_a_callback_is_traced_to_its_attempt_within_the_targets() -> None:
    traced = _traced("trace-callback", 5)
    tasks = traced["tasks"]
    # It starts in serve's connection wrappers, then the callback's route...
    first = tasks[0]["modules"]
    assert first[0] == "receiver.kernel.http.connections", first
    assert any(m.startswith("receiver.callbacks.") for m in first)
    assert "callbacks" in traced["figures"]["folders"]
    assert traced["ended_by"].startswith("receiver.outbox.")
    # The outbox a folder of its own (issue 93) adds one folder and the steps into it and
    # back: the same code as 5 folders and 9 returns before the move.
    _within(traced, folders=6, modules=30, returns=15)
    assert all(0 < n <= MAX_FUNCTION_LINES for _, n in traced["figures"]["longest"])


def test_a_submit_is_traced_to_its_recorded_send_within_the_targets() -> None:
    traced = _traced("trace-submit", 3)
    first = traced["tasks"][0]["modules"]
    assert first[0] == "receiver.kernel.http.connections", first
    # The app's key and its scopes are resolved once: the route's task enters keys/ once.
    walk = [name.split(".")[1] for name in traced["tasks"][0]["calls"]]
    walk = [folder for folder in walk if folder not in ("kernel", "config")]
    entered = [f for i, f in enumerate(walk) if i == 0 or walk[i - 1] != f]
    assert entered.count("keys") == 1, entered
    assert traced["ended_by"] == "receiver.lifecycle.rows.tasks.submits.keep"
    _within(traced, folders=6, modules=35, returns=10)
