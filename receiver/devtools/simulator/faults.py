"""Fault knobs, their validation, and the upstream answers they force."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any

from starlette.responses import JSONResponse, Response

from receiver.devtools.simulator.limits import is_int
from receiver.devtools.simulator.model import CallbackShape, Op, Style

# Fault fields that take one of a few strings.
_CHOICES: dict[str, tuple[str, ...]] = {"callback_shape": ("flat", "envelope")}


@dataclass
class Faults:
    """Fault knobs, all changeable at runtime through ``POST /_sim/faults``."""

    # Callbacks (reverse-format tasks only); drop/delay apply to the terminal callback.
    drop_rate: float = 0.0
    drop_next: int = 0
    delay_seconds: float = 0.0
    duplicate: int = 0
    reorder: bool = False
    corrupt_rate: float = 0.0
    progress_callbacks: bool = False
    # The callback body: CometAPI's documented flat object, or the code/msg/data envelope.
    callback_shape: CallbackShape = "flat"
    # Task outcome, on top of prompts containing "FAIL".
    fail_rate: float = 0.0
    # Upstream answers; a *_status_count of None applies the status until it is cleared.
    submit_status: int | None = None
    submit_status_count: int | None = None
    submit_delay_seconds: float = 0.0
    submit_malformed: bool = False
    poll_status: int | None = None
    poll_status_count: int | None = None
    poll_delay_seconds: float = 0.0
    poll_malformed: bool = False
    # A cancel (`DELETE /v1/tasks/{id}`) takes effect at once and answers this much later.
    cancel_delay_seconds: float = 0.0
    # The simulator's own CDN (`/cdn/...`): a forced status, e.g. 403 for an expired link.
    cdn_status: int | None = None
    cdn_status_count: int | None = None
    # Serve the files as text/html, as a CDN error page would be.
    cdn_html: bool = False
    # The feed's `point` as this text instead of the task's cost ("1e300", "NaN", "-5"):
    # a figure from CometAPI itself that cannot be a price.
    feed_point: str = ""
    # Above 0: every file trickles out in small pieces spread over this many seconds (a
    # task whose prompt holds "TRICKLE" has its files trickle over an hour whatever this is).
    cdn_trickle_seconds: float = 0.0
    # A forced 429 says how long to wait (Retry-After, seconds).
    retry_after_seconds: float = 1.0
    # An account's concurrency limit: a submit while this many tasks are unfinished is
    # answered 429, as over a Runway tier's limit. None: no limit.
    concurrency_limit: int | None = None
    # Kinds (comma-separated) whose create route CometAPI does not serve: answered 404.
    unserved_routes: str = ""
    # Official answers wrapped in `{code, message, data}`, as some of CometAPI's pages show.
    wrapped_answers: bool = False


def merge_faults(base: Faults, updates: object) -> Faults:
    """Return ``base`` with ``updates`` applied, validating each value; raise ValueError."""
    if not isinstance(updates, dict):
        raise ValueError("faults must be a JSON object")
    defaults = {f.name: f.default for f in fields(Faults)}
    unknown = set(updates) - set(defaults)
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    clean: dict[str, Any] = {}
    for name, value in updates.items():
        # A field's default value says what kind of value it takes.
        default = defaults[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = is_int(value) and value >= 0
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            ok = ok and (not name.endswith("_rate") or value <= 1)
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok = value in _CHOICES[name] if name in _CHOICES else isinstance(value, str)
        elif name.endswith("_status"):
            ok = value is None or (is_int(value) and 100 <= value <= 599)
        else:
            ok = value is None or (is_int(value) and value >= 0)
        if not ok:
            raise ValueError(f"invalid value for {name}: {value!r}")
        clean[name] = value
    return replace(base, **clean)


# --- upstream faults ---------------------------------------------------------------------
# The caller sleeps through the op's delay first, then reads its faults afresh: a delayed
# call sees the faults set while it waited.


def forced_answer(
    faults: Faults, rng: random.Random, op: Op, style: Style, authorization: str
) -> Response | None:
    """The forced status or malformed body ``faults`` give this submit/poll, or None;
    `authorization` is the request's header, which a forced 401 quotes."""
    status = take_status(faults, op)
    if status is not None:
        return error_response(
            style, status, _reason(status, authorization), faults.retry_after_seconds
        )
    if getattr(faults, f"{op}_malformed"):
        if rng.random() < 0.5:
            return Response(b'{"code": 200, "msg": "succ', media_type="application/json")
        return Response(b"<html><body>502 Bad Gateway</body></html>", media_type="text/html")
    return None


def take_status(faults: Faults, op: Op) -> int | None:
    status: int | None = getattr(faults, f"{op}_status")
    count: int | None = getattr(faults, f"{op}_status_count")
    if status is None or count is None:
        return status
    # A counted status clears itself once used up, so GET /_sim/faults shows it gone.
    setattr(faults, f"{op}_status_count", count - 1 if count > 1 else None)
    if count <= 1:
        setattr(faults, f"{op}_status", None)
    return status if count >= 1 else None


def key_refused(authorization: str) -> str:
    """The answer to a key that is refused quotes what was sent, as API gateways do
    ("Incorrect API key provided: Bearer sk-..."): a client must not echo it on."""
    return f"Incorrect API key provided: {authorization}"


def _reason(status: int, authorization: str) -> str:
    if status == 401:
        return key_refused(authorization)
    if status == 429:
        return "rate limit exceeded"
    if status >= 500:
        return "upstream exploded"
    return "simulated upstream error"


def error_response(
    style: Style, status: int, reason: str, retry_after: float = 1.0
) -> JSONResponse:
    """An error in each format's own shape (reverse 401s use a string code upstream); a
    429 says when to come back."""
    headers = {"Retry-After": f"{retry_after:g}"} if status == 429 else None
    body: dict[str, Any]
    if style == "official":
        body = {"error": reason}
    elif status == 401:
        body = {"code": "unauthorized", "msg": reason}
    else:
        body = {"code": status, "msg": reason}
    return JSONResponse(body, status_code=status, headers=headers)
