"""`receiver trace-callback`, run as a developer runs it: its relay takes each task's callback
and records the webhook's attempt, the trace between them is found and counted, and the
quietest of its runs is held to issue 73's targets (item 4; docs/development.md): at most
five folders besides the kernel and the configuration, at most thirty modules, at most ten
returns to a folder already left within one asyncio task, no function on the path over
sixty lines. A background tick that falls in a window only adds to it, so the quietest of
five is the path's own."""

from __future__ import annotations

import json
import subprocess
import sys

MAX_FOLDERS = 5
MAX_MODULES = 30
MAX_RETURNS = 10
MAX_FUNCTION_LINES = 60


def test_a_callback_is_traced_to_its_attempt_within_the_targets() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "trace-callback", "--json", "--runs", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    traced = json.loads(done.stdout)
    assert len(traced["runs"]) == 5
    figures = traced["figures"]
    print(json.dumps(figures))  # seen with -s: the figures at this commit
    tasks = traced["tasks"]
    # It starts at the callback's route, in the task that serves the request...
    assert tasks[0]["modules"][0].startswith("receiver.callbacks.")
    # ...and ends at the store's statement that records the attempt, in a later task.
    [ended] = [t for t in tasks if t["label"] == traced["ended_in"]]
    assert ended is not tasks[0] and traced["ended_by"] in ended["calls"]
    assert "callbacks" in figures["folders"] and figures["modules"] > 1
    assert figures["tasks"] >= 2
    assert len(figures["folders"]) <= MAX_FOLDERS, figures["folders"]
    assert figures["modules"] <= MAX_MODULES, [t["modules"] for t in tasks]
    assert figures["returns"] <= MAX_RETURNS, [(t["label"], t["returns"]) for t in tasks]
    assert all(0 < lines <= MAX_FUNCTION_LINES for _, lines in figures["longest"])
