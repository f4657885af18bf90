"""`receiver trace-submit`: the relay's path from an app's `POST /v1/tasks` to CometAPI
holding the task, its send answered and recorded as a submit attempt (issue 81; the driver
is receiver/devtools/traced_path.py, the tracer receiver/devtools/path_tracer.py)."""

from __future__ import annotations

from starlette.types import Scope

from receiver.devtools.traced_path import TracedPath, run_trace


def _submit(scope: Scope) -> bool:
    return bool(scope["method"] == "POST" and scope["path"] == "/v1/tasks")


SUBMIT = TracedPath(
    "from the submit's request to its send's record",
    _submit,
    "INSERT INTO submit_attempts",
)


def run(as_json: bool, runs: int) -> int:
    return run_trace(SUBMIT, as_json, runs)
