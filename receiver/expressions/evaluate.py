"""Filters and transforms in CEL, evaluated: what a downstream takes, and the body it is
sent; and a source vetted before it is stored. What CEL costs cannot be told from its text,
and its Rust core holds the GIL, so each goes to a process of receiver/expressions/pool.py,
whose CPU and memory the kernel bounds.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from receiver.expressions import pool
from receiver.expressions.pool import Stopped
from receiver.expressions.rules import (
    MATCHED,
    REFUSED,
    ExpressionError,
    ExpressionFailed,
    OverBudget,
    Shaped,
    Verdict,
    check,
    syntax_error,
    variables,
    wanted,
)
from receiver.expressions.worker import MEMORY_BYTES
from receiver.kernel.net.headers import header_problem


async def evaluate(
    filter_source: str | None,
    transform_source: str | None,
    envelope: dict[str, Any],
    line: str,
    always: bool = False,
) -> tuple[Verdict, Shaped | None]:
    """Whether the event passes the filter, and what the transform makes of it (None without
    one, or when the filter refused it, unless `always`), in one round trip to a process,
    waiting in `line` (the app's, receiver/expressions/lines.py) for its turn.
    ExpressionFailed when the transform fails (OverBudget: its body is over 1 MiB); a
    budget passed is a cut verdict; Overloaded when the processes are too busy."""
    sources = [s for s in (filter_source, transform_source) if s is not None]
    request = {
        "filter": filter_source,
        "transform": transform_source,
        "variables": variables(envelope, wanted(*sources)),
        "always": always,
    }
    try:
        answer, body = await _answered(request, line)
    except Stopped as exc:
        return _stopped(filter_source, transform_source, str(exc)), None
    if answer.get("memory"):
        return _stopped(filter_source, transform_source, _OUT_OF_MEMORY), None
    verdict = MATCHED
    if "filter" in answer:
        matched, reason = answer["filter"]
        verdict = MATCHED if matched else Verdict(False, reason or REFUSED)
    made = answer.get("transform")
    if made is None:
        return verdict, None
    if "error" in made:
        raise (OverBudget if made["over"] else ExpressionFailed)(made["error"])
    if problem := header_problem(made["headers"]):
        raise ExpressionFailed(f"transform: {problem}")
    return verdict, Shaped(body, made["method"], made["path"], dict(made["headers"]))


# Answers kept by their request: CEL is pure (no clock, no randomness, no I/O), so the
# same sources on the same variables answer the same, and a filter that reads a few
# fields (`event.type`, `event.data.state`) meets the same values again and again. Kept
# only when small, and only what a process answered within its budget (never a stop).
_KEPT = 1024
_KEY_BYTES = 1024
_BODY_BYTES = 2048
_answers: OrderedDict[bytes, pool.Answer] = OrderedDict()


async def _answered(request: dict[str, Any], line: str) -> pool.Answer:
    """A process's answer to `request`, or the one it gave to the same request before."""
    key = orjson.dumps(request)
    if (kept := _answers.get(key)) is not None:
        _answers.move_to_end(key)
        return kept
    answer, body = await pool.pool().ask(key, line)
    if len(key) <= _KEY_BYTES and len(body) <= _BODY_BYTES and not answer.get("memory"):
        _answers[key] = answer, body
        if len(_answers) > _KEPT:
            _answers.popitem(last=False)
    return answer, body


def _stopped(filter_source: str | None, transform_source: str | None, why: str) -> Verdict:
    who = " and ".join(
        name for name, s in (("filter", filter_source), ("transform", transform_source)) if s
    )
    return Verdict(False, f"{who} stopped: {why}", cut=True)


_OUT_OF_MEMORY = f"it needed more than {MEMORY_BYTES // 2**20} MiB of memory"


def _vet_request(source: str, example: dict[str, Any] | None) -> dict[str, Any]:
    return {"vet": source, "example": None if example is None else variables(example)}


def _judged(answer: dict[str, Any], source: str, field_name: str, map_wanted: bool) -> None:
    """ExpressionError for what a process said of a source, if it is refused."""
    if "stopped" in answer or answer.get("memory"):
        why = answer.get("stopped") or _OUT_OF_MEMORY
        raise ExpressionError(f"{field_name} stopped: {why}")
    if "invalid" in answer:
        raise syntax_error(answer["invalid"], field_name, source)
    gives = answer.get("gives")
    if map_wanted and gives not in (None, "dict"):
        raise ExpressionError(f"{field_name} must give a map, and gives a {gives}", (1, 1))
    # A header it sets on the sample event that no delivery could send (the relay's own, a
    # CR or LF in a value): refused now rather than every delivery dead-lettered.
    if (problem := header_problem(answer.get("headers") or {})) is not None:
        raise ExpressionError(f"{field_name}: on the sample event, {problem}")


async def vet(
    source: str, field_name: str, line: str, example: dict[str, Any] | None = None
) -> None:
    """ExpressionError unless `source` passes `check`, compiles, and (given an example event,
    for a transform) gives a map on it; one that fails there may still suit the events it is
    meant for. Compiled in a process, under the same budget as an evaluation, waiting in
    `line` (the app's)."""
    check(source, field_name)
    try:
        request = orjson.dumps(_vet_request(source, example))
        answer, _ = await pool.pool().ask(request, line)
    except Stopped as exc:
        answer = {"stopped": str(exc)}
    _judged(answer, source, field_name, example is not None)


def vet_now(
    sources: list[tuple[str, str]], example: dict[str, Any]
) -> list[ExpressionError | None]:
    """`vet` for each (source, field name) without an event loop: the config file, read
    before the relay serves. A `transform` is tried on `example`."""
    problems: list[ExpressionError | None] = [None] * len(sources)
    asked: list[int] = []
    for n, (source, field_name) in enumerate(sources):
        try:
            check(source, field_name)
            asked.append(n)
        except ExpressionError as exc:
            problems[n] = exc
    requests = [
        _vet_request(sources[n][0], example if sources[n][1] == "transform" else None)
        for n in asked
    ]
    for n, answer in zip(asked, pool.ask_now(requests), strict=True):
        source, field_name = sources[n]
        try:
            _judged(answer, source, field_name, field_name == "transform")
        except ExpressionError as exc:
            problems[n] = exc
    return problems
