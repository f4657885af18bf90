"""`receiver trace-callback`: the relay's path from CometAPI's callback to the webhook's
recorded attempt, measured in a running relay (issue 73, item 4; issue 81; the driver is
receiver/devtools/traced_path.py, the tracer receiver/devtools/path_tracer.py)."""

from __future__ import annotations

from starlette.types import Scope

from receiver.devtools.traced_path import TracedPath, run_trace


def _callback(scope: Scope) -> bool:
    # The URL CometAPI is given, stable whatever the route's code.
    return str(scope["path"]).startswith("/callbacks/")


CALLBACK = TracedPath(
    "from the callback's request to the attempt's record",
    _callback,
    "INSERT INTO delivery_attempts",
)


def run(as_json: bool, runs: int) -> int:
    return run_trace(CALLBACK, as_json, runs)
