"""`receiver trace-callback`, run as a developer runs it: its relay takes one task's callback
and records the webhook's attempt, and the trace between them is found and counted. The
figures are printed, not held to issue 73's targets (docs/development.md keeps those):
this holds the instrument, not the path it measures."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_callback_is_traced_to_its_attempt() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "trace-callback", "--json", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    traced = json.loads(done.stdout)
    assert len(traced["runs"]) == 1
    figures = traced["figures"]
    print(json.dumps(figures))  # seen with -s: the figures at this commit
    tasks = traced["tasks"]
    # It starts at the callback's route, in the task that serves the request...
    assert tasks[0]["modules"][0].startswith("receiver.callbacks.")
    # ...and ends at the store's statement that records the attempt, in a later task.
    [ended] = [t for t in tasks if t["label"] == traced["ended_in"]]
    assert ended is not tasks[0] and traced["ended_by"] in ended["calls"]
    assert "callbacks" in figures["folders"] and figures["modules"] > 1
    assert figures["tasks"] >= 2 and figures["returns"] >= 0
    assert all(lines > 0 for _, lines in figures["longest"])
