"""Filters and transforms in CEL (Common Expression Language): what a downstream takes, and
the body it is sent.

CEL always ends (no loops, no recursion), and what one expression may cost is bounded
here before it is stored: its size, and how deeply its list macros nest (each may walk a
whole list). Expressions are compiled once per distinct text (a downstream's change), never
per event; evaluating one is a call into the Rust core of `common-expression-language`,
which cannot be interrupted: so each evaluation is first weighed against the sizes of the
event it is given, and not run when over a budget (receiver/kernel/expression_cost.py).

An expression that fails on an event (a field it lacks, a wrong type) never raises past
`Filter.verdict` or `Transform.shape`: a filter that fails is "not matched", with the
reason; a transform that fails is an `ExpressionFailed` the caller records on the delivery.
"""

from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, lru_cache
from typing import Any

import orjson

from receiver.kernel import expression_cost
from receiver.kernel.expression_cost import MACRO, MAX_RUN_COST, TOKEN
from receiver.kernel.extras import install_command, installed, require
from receiver.kernel.net.headers import header_problem

MAX_EXPRESSION_BYTES = 4096
# Each list macro may walk a whole list (a task's outputs, a metadata list: tens of items at
# most); the cost of a term is taken as LIST_BOUND to the power of the macros around it.
LIST_BOUND = 100
MAX_COST = 1_000_000
# The most a transform's body may be, as JSON: a preview shows it, a delivery sends it.
MAX_BODY_BYTES = 1024 * 1024
# What a transform may say besides the body.
ENVELOPE_KEYS = frozenset({"body", "method", "path", "headers"})
METHODS = frozenset({"POST", "PUT", "PATCH"})
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


class ExpressionError(ValueError):
    """An expression refused before it is stored: what is wrong, and where (`line:column`)."""

    def __init__(
        self, problem: str, position: tuple[int, int] | None = None, said: str = ""
    ) -> None:
        self.problem = problem
        self.position = position
        where = f" at {position[0]}:{position[1]}" if position else ""
        super().__init__(f"{problem}{where}{': ' + said if said else ''}")


class ExpressionFailed(Exception):
    """An expression that failed on one event: why, safe to keep on the delivery."""


class OverBudget(ExpressionFailed):
    """An expression not run on an event (it would cost too much), or a transform whose
    body is too big: the caller's input at a preview (422), a failure on a delivery."""


@lru_cache(maxsize=1)
def _cel() -> Any:
    """The library's Rust extension (`cel.cel`: compile, Context), loaded without the
    package's `__init__`, which also imports its REPL (typer, rich, prompt_toolkit,
    pygments), so the image leaves those out. Registered, so that it loads once."""
    require("cel", "a downstream's filter or transform")
    if "cel.cel" in sys.modules:
        return sys.modules["cel.cel"]
    package = importlib.util.find_spec("cel")
    where = package.submodule_search_locations if package else None
    spec = importlib.machinery.PathFinder.find_spec("cel.cel", where)
    if spec is None or spec.loader is None:
        raise ImportError("common-expression-language has no extension module cel.cel")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def cost(source: str) -> tuple[int, tuple[int, int] | None]:
    """The estimated cost (terms, each weighted by the list macros around it) and where
    the deepest macro opens."""
    total, depth, deepest, where = 0, 0, 0, None
    opened: list[int] = []  # the depth each open parenthesis returns to
    macros = {m.end() - 1 for m in MACRO.finditer(source)}
    for token in TOKEN.finditer(source):
        text = token.group()
        total += LIST_BOUND**depth
        if text in "([":
            inside = token.start() in macros
            opened.append(depth)
            if inside:
                depth += 1
                if depth > deepest:
                    deepest, where = depth, _position(source, token.start())
        elif text in ")]" and opened:
            depth = opened.pop()
    return total, where


def check(source: str, field_name: str) -> Any:
    """The compiled program of `source`; ExpressionError saying what is wrong and where."""
    if not installed("cel"):
        raise ExpressionError(
            f"{field_name} needs the relay installed with its cel extra: {install_command('cel')}"
        )
    size = len(source.encode())
    if size > MAX_EXPRESSION_BYTES:
        cut = len(source.encode()[:MAX_EXPRESSION_BYTES].decode("utf-8", "ignore"))
        raise ExpressionError(
            f"{field_name} is {size} bytes, over {MAX_EXPRESSION_BYTES}", _position(source, cut)
        )
    spent, where = cost(source)
    if spent > MAX_COST:
        raise ExpressionError(
            f"{field_name} may cost {spent:,} steps, over {MAX_COST:,}: list macros nest too"
            " deeply",
            where,
        )
    # Its own lists (literals) alone, before any event: long ones nested in macros.
    alone = expression_cost.estimate(plan(source), expression_cost.Sizes(1))
    if alone > MAX_RUN_COST:
        raise ExpressionError(
            f"{field_name} may cost {alone:,} steps, over {MAX_RUN_COST:,}: its lists are too"
            " long for the macros around them",
            where,
        )
    try:
        return compiled(source)
    except ValueError as exc:
        raise _syntax(str(exc), field_name, source) from None


def _syntax(message: str, field_name: str, source: str) -> ExpressionError:
    """The parser's first complaint, in words, at its place: never its dump of tokens."""
    found = re.findall(r"<input>:(\d+):(\d+): ([^\n]*)", message)
    syntax = [f for f in found if f[2].startswith("Syntax error: ")] or found
    if not syntax:
        return ExpressionError(f"{field_name} is not valid CEL")
    line, column, what = syntax[0]
    place = (int(line), int(column))
    said = _in_words(what.removeprefix("Syntax error: "), _before(source, place))
    return ExpressionError(f"{field_name} is not valid CEL", place, said)


# The tokens a value may begin with, as the parser names them: expecting any of them means
# "a value"; the closers and separators it may expect instead are named as they are written.
_VALUE_STARTS = {"IDENTIFIER", "NUM_INT", "NUM_FLOAT", "NUM_UINT", "STRING", "BYTES"}
_CLOSERS = ("]", "}", ")", ":", ",")


def _expected(listed: str) -> str:
    """What the parser expected, from its list of tokens, in a few words."""
    tokens = {t.strip().strip("'") for t in listed.strip("{}").split(", ")}
    if tokens & _VALUE_STARTS:
        return "a value"
    closers = [f"`{c}`" for c in _CLOSERS if c in tokens]
    if closers:
        return " or ".join(closers)
    return "nothing" if tokens == {"<EOF>"} else "an operator"


def _in_words(what: str, before: str) -> str:
    """One parser message as a person reads it; `before`: the text before the place."""
    words = before.split()
    after = f" after `{words[-1][-12:]}`" if words else ""
    if m := re.match(r"mismatched input '<EOF>' expecting (.*)", what):
        return f"the expression ends{after}, where {_expected(m.group(1))} should follow"
    if m := re.match(r"(?:mismatched|extraneous) input '(.*)' expecting (.*)", what):
        found, expected = m.group(1)[:20], _expected(m.group(2))
        if expected == "nothing":
            return f"`{found}` follows a whole expression (join two with `&&` or `||`)"
        return f"`{found}` cannot stand here{after}, where {expected} should"
    if m := re.match(r"token recognition error at: '(.*)'", what):
        text = m.group(1)
        if text.startswith(("'", '"')) and "\\" in text:
            escape = text[text.index("\\") :][:2]
            return f"this string holds `{escape}`, an escape CEL does not know"
        if text.startswith(("'", '"')):
            return f"this string is never closed: its closing {text[0]} is missing"
        if text.strip() == "=":
            return "a single `=` compares nothing: write `==`"
        return f"`{text.strip()[:20]}` is not something CEL reads"
    if m := re.match(r"no viable alternative at input '(.*)'", what):
        if m.group(1).endswith("."):
            return "a field name should follow `.`"
        return f"CEL cannot read `{m.group(1)[-20:]}` here"
    return "CEL cannot read what stands here"


def _before(source: str, place: tuple[int, int]) -> str:
    """The text of `place`'s line before it."""
    lines = source.split("\n")
    line = lines[place[0] - 1] if 0 < place[0] <= len(lines) else ""
    return line[: max(place[1] - 1, 0)]


@lru_cache(maxsize=1024)
def plan(source: str) -> expression_cost.Plan:
    """Which terms sit in which macros: read once per distinct text."""
    return expression_cost.plan(source)


@lru_cache(maxsize=1024)
def compiled(source: str) -> Any:
    """One program per distinct text: a downstream's change compiles, an event does not."""
    return _cel().compile(source)


def variables(envelope: dict[str, Any], wanted: Wanted | None = None) -> dict[str, Any]:
    """What an expression sees: `event`, the event as the `webhook` format delivers it (only
    the fields `wanted` names, when the expressions name each one they read). A task
    without metadata has `{}` there, so that `has(event.data.metadata.tier)` works."""
    data = envelope.get("data")
    if not isinstance(data, dict):
        return {"event": envelope}
    if wanted is not None:
        top, fields = wanted
        envelope = {key: envelope[key] for key in top if key in envelope}
        data = {key: data[key] for key in fields if key in data}
    else:
        envelope = dict(envelope)
    if data.get("metadata") is None and (wanted is None or "metadata" in wanted[1]):
        data = {**data, "metadata": {}}
    envelope["data"] = data
    return {"event": envelope}


# The fields of `event` and of `event.data` that some expressions read.
Wanted = tuple[frozenset[str], frozenset[str]]
_EVENT_USE = re.compile(r"\bevent\b(\s*\.\s*(\w+)(\s*\.\s*(\w+))?)?")


@lru_cache(maxsize=1024)
def wanted(*sources: str) -> Wanted | None:
    """What `sources` read of the event, when each use names its field (`event.type`,
    `event.data.state`); None when any uses more (`event` alone, `event.data` alone or
    indexed), so that the whole event is converted: converting only the fields read is
    most of what a filter and a transform cost."""
    top, fields = {"data"}, set()
    for source in sources:
        for use in _EVENT_USE.finditer(_without_strings(source)):
            first, second = use.group(2), use.group(4)
            if first is None or (first == "data" and second is None):
                return None
            if first == "data":
                fields.add(second)
            else:
                top.add(first)
    return frozenset(top), frozenset(fields)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def _without_strings(source: str) -> str:
    return _STRING.sub('""', source)


def evaluation_error(exc: BaseException) -> BaseException:
    """What an evaluation raised, unless it was not the expression's doing: a panic of the
    Rust core (pyo3's PanicException is a BaseException) is the expression's failure too;
    a cancellation or an exit goes on."""
    if isinstance(exc, Exception) or type(exc).__name__ == "PanicException":
        return exc
    raise exc


def _why(exc: BaseException) -> str:
    text = str(exc).split(". ", 1)[0].strip()
    if isinstance(exc, KeyError):
        text = f"no field {text}"
    return text[:160] or type(exc).__name__


@dataclass(frozen=True)
class Verdict:
    matched: bool
    reason: str | None = None  # why not: refused, or the expression failed
    cut: bool = False  # not run: it would have cost too much on this event


MATCHED = Verdict(True)
# The reason of a filter that answered false; any other reason is a failure.
REFUSED = "filter refused the event"


class Context:
    """What an expression sees of one event, converted for CEL once for a filter and a
    transform, with the sizes their cost is weighed against (taken when first needed)."""

    def __init__(self, given: dict[str, Any]) -> None:
        self.variables = given
        self.converted = _cel().Context(given)

    @cached_property
    def sizes(self) -> expression_cost.Sizes:
        return expression_cost.measure(self.variables)

    @cached_property
    def rough(self) -> expression_cost.Sizes:
        """Sizes no smaller than the real ones, taken in C: the values as JSON are at least
        a byte each (and a string's length), so its length bounds each figure."""
        try:
            n = len(orjson.dumps(self.variables))
        except TypeError:
            return self.sizes
        return expression_cost.Sizes(n, n, None, n)


def execute(program: Any, context: Context, field_name: str) -> Any:
    """What `program` gives on this event, if it may cost that much: OverBudget saying why
    (and naming the field that makes it cost so much) when it may not."""
    shape = plan(program.source)
    # Most expressions are far under the budget even on the rough sizes: no walk of them.
    if expression_cost.estimate(shape, context.rough) <= MAX_RUN_COST:
        return program.execute(context.converted)
    spent = expression_cost.estimate(shape, context.sizes)
    if spent > MAX_RUN_COST:
        why = expression_cost.why(spent, shape, context.sizes, context.variables)
        raise OverBudget(f"{field_name} {why}")
    return program.execute(context.converted)


def verdict(program: Any, context: Context) -> Verdict:
    """Whether the event passes; never raises."""
    try:
        result = execute(program, context, "filter")
    except OverBudget as exc:
        return Verdict(False, str(exc), cut=True)
    except BaseException as exc:
        return Verdict(False, f"filter failed: {_why(evaluation_error(exc))}")
    if result is True:
        return MATCHED
    if result is False:
        return Verdict(False, REFUSED)
    return Verdict(False, f"filter gave a {type(result).__name__}, not a bool")


@dataclass(frozen=True)
class Shaped:
    """What a transform made of one event."""

    body: bytes
    method: str = "POST"
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    raise TypeError(type(value).__name__)


def shape(program: Any, context: Context) -> Shaped:
    """The body a transform makes of an event; ExpressionFailed with the reason (OverBudget
    when it would cost too much, or its body is over MAX_BODY_BYTES).

    A map is the body; a map of `body` with any of `method`, `path` and `headers` (and
    nothing else) says those too."""
    try:
        result = execute(program, context, "transform")
    except OverBudget:
        raise
    except BaseException as exc:
        raise ExpressionFailed(f"transform failed: {_why(evaluation_error(exc))}") from None
    if not isinstance(result, dict):
        raise ExpressionFailed(f"transform gave a {type(result).__name__}, not a map")
    if "body" in result and result.keys() <= ENVELOPE_KEYS:
        return _enveloped(result)
    return Shaped(_dumps(result))


def _dumps(value: Any) -> bytes:
    try:
        body = orjson.dumps(value, default=_plain)
    except TypeError as exc:
        raise ExpressionFailed(f"transform gave a value JSON cannot hold: {exc}") from None
    if len(body) > MAX_BODY_BYTES:
        raise OverBudget(
            f"transform made a body of {len(body):,} bytes, over {MAX_BODY_BYTES:,} (1 MiB)"
        )
    return body


def _enveloped(result: dict[str, Any]) -> Shaped:
    method = result.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ExpressionFailed(f"transform: method must be one of {', '.join(sorted(METHODS))}")
    path = result.get("path", "")
    if not isinstance(path, str) or (path and (not _PATH.match(path) or ".." in path)):
        raise ExpressionFailed("transform: path must start with / and hold only URL path text")
    headers = result.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ExpressionFailed("transform: headers must be a map of strings")
    if problem := header_problem(headers):
        raise ExpressionFailed(f"transform: {problem}")
    return Shaped(_dumps(result["body"]), method.upper(), path, dict(headers))


def context(envelope: dict[str, Any], *sources: str) -> Context:
    """The variables converted once, for a filter and a transform of one event: only what
    `sources` read of it, when that can be told."""
    return Context(variables(envelope, wanted(*sources) if sources else None))
