"""What a filter or a transform is before any process runs it: the text checked before it
is stored, what an expression sees of an event, and the answers. A filter that fails on an
event is "not matched", with the reason; a transform that fails is an `ExpressionFailed` the
caller records on the delivery; one stopped for passing its budget is "not matched" (`cut`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from receiver.kernel.extras import install_command, installed

MAX_EXPRESSION_BYTES = 4096
REFUSED = "filter refused the event"


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
    """A transform whose body is over 1 MiB: the caller's input at a preview (422),
    a failure on a delivery."""


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def check(source: str, field_name: str) -> None:
    """What is checked of the text alone (the cel extra, its size): ExpressionError saying
    what is wrong and where. Whether it compiles is asked of a process (`vet`)."""
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


def syntax_error(message: str, field_name: str, source: str) -> ExpressionError:
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


# Read left to right: a `//` inside a string is text, a quote inside a comment is not.
_STRING_OR_COMMENT = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*'
)


def _without_strings(source: str) -> str:
    """The source with its strings emptied and its comments gone."""
    return _STRING_OR_COMMENT.sub(lambda m: "" if m.group().startswith("//") else '""', source)


@dataclass(frozen=True)
class Verdict:
    matched: bool
    reason: str | None = None  # why not: refused, the expression failed, or it was stopped
    cut: bool = False  # stopped: it passed its budget on this event


MATCHED = Verdict(True)


@dataclass(frozen=True)
class Shaped:
    """What a transform made of one event."""

    body: bytes
    method: str = "POST"
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
