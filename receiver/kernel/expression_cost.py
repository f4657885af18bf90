"""What one evaluation of a filter or transform may cost, on the event it is about to see.

CEL has no loops, but the Rust core of `common-expression-language` copies values as it
goes (measured on 0.10: each use of `event` copies all the expression was given; `map` and
`filter` rebuild their result list at each item, so `l.map(x, l)` is N^3), and it has no
budget of its own. An evaluation on the event loop cannot be interrupted, so the bound is
taken before it starts: the expression's shape (which terms sit inside which list macros)
times the sizes of what it is given (how many values, the longest list). Over the budget,
it is not run at all, and the reason names the field that made it so.

One step is about 30-200 ns of the core's time (docs/delivery.md has the figures), so the
budget holds the loop a fifth of a second at worst.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Steps an evaluation may take on the event it is given: at most ~0.2 s of the loop.
MAX_RUN_COST = 1_000_000
MACRO = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*\(")
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\w+|[^\s\w]')
# The macros whose result is a list rebuilt at each item (the others answer a bool).
_BUILDING = frozenset({"map", "filter"})
# A string costs a step per this many characters when copied (measured: a use of a 16 KB
# string costs about what 300 small values cost).
_CHARS_A_STEP = 32


@dataclass
class Scope:
    """The top of an expression, or a macro's body: the terms in it, and the macros in it."""

    macro: str = ""
    terms: int = 0
    event_uses: int = 0
    inner: list[Scope] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """An expression's shape, read once per distinct text."""

    top: Scope
    longest_literal: int  # the most items between one pair of brackets or braces
    joins: int  # `+` signs: each may make a list as long as the two it joins

    @property
    def macros(self) -> bool:
        return bool(self.top.inner)


def plan(source: str) -> Plan:
    macros = {m.end() - 1: m.group(1) for m in MACRO.finditer(source)}
    scopes = [Scope()]
    # Each open bracket: whether it opens a macro's body, and its items so far.
    opened: list[list[Any]] = []
    longest = joins = 0
    for token in TOKEN.finditer(source):
        text = token.group()
        scope = scopes[-1]
        if text in "([{":
            macro = macros.get(token.start()) if text == "(" else None
            opened.append([macro is not None, 1])
            if macro is not None:
                scope.inner.append(Scope(macro))
                scopes.append(scope.inner[-1])
        elif text in ")]}" and opened:
            was_macro, items = opened.pop()
            longest = max(longest, items)
            if was_macro and len(scopes) > 1:
                scopes.pop()
        elif text == "," and opened:
            opened[-1][1] += 1
        elif text == "event":
            scope.event_uses += 1
        else:
            joins += text == "+"
            scope.terms += 1
    return Plan(scopes[0], longest, joins)


@dataclass(frozen=True)
class Sizes:
    """What an expression is given: how many values (a string counts by its length), the
    longest list or map (itself, to name it when refusing), and the largest item of a list."""

    values: int
    longest: int = 0
    longest_container: Any = None
    largest_item: int = 1


def measure(variables: dict[str, Any]) -> Sizes:
    found = _Measure()
    values = sum(found.size(value) for value in variables.values())
    return Sizes(values, found.longest, found.container, found.largest_item)


class _Measure:
    """One walk of the values (no path is built: the refusal finds it, rarely)."""

    def __init__(self) -> None:
        self.longest, self.largest_item = 0, 1
        self.container: Any = None

    def size(self, value: Any) -> int:
        if isinstance(value, str | bytes):
            return 1 + len(value) // _CHARS_A_STEP
        if isinstance(value, dict):
            if len(value) > self.longest:
                self.longest, self.container = len(value), value
            return 1 + sum(map(self.size, value.values()))
        if isinstance(value, list | tuple):
            if len(value) > self.longest:
                self.longest, self.container = len(value), value
            sizes = list(map(self.size, value))
            if sizes:
                self.largest_item = max(self.largest_item, max(sizes))
            return 1 + sum(sizes)
        return 1


def path_to(variables: dict[str, Any], wanted: Any) -> str | None:
    """Where `wanted` (a list or map, by identity) is among the variables."""
    stack: list[tuple[str, Any]] = list(variables.items())
    while stack:
        path, value = stack.pop()
        if value is wanted:
            return path
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{n}]", item) for n, item in enumerate(value))
    return None


def estimate(shape: Plan, sizes: Sizes) -> int:
    """The steps one evaluation may take: each use of `event` copies every value given, a
    term inside a macro runs once an item (of the longest list the expression may walk),
    and `map` and `filter` rebuild their list at each item."""
    walked = max(sizes.longest, shape.longest_literal) * (1 + shape.joins)
    item = max(sizes.largest_item, _largest_built(shape.top, sizes, walked))
    return _work(shape.top, sizes, walked, item)


def _work(scope: Scope, sizes: Sizes, walked: int, item: int) -> int:
    # Inside a macro a term may be its variable, an item of the list.
    per_term = item if scope.macro else 1
    total = scope.terms * per_term + scope.event_uses * sizes.values
    for inner in scope.inner:
        total += walked * (_work(inner, sizes, walked, item) + item)
        if inner.macro in _BUILDING:
            total += walked * walked * _yields(inner, sizes, walked, item)
    return total


def _yields(scope: Scope, sizes: Sizes, walked: int, item: int) -> int:
    """How many values one run of a macro's body may give (an item of the list it makes)."""
    if scope.macro == "filter":
        return item
    total = scope.terms * item + scope.event_uses * sizes.values
    for inner in scope.inner:
        total += walked * _yields(inner, sizes, walked, item) if inner.macro in _BUILDING else 1
    return total


def _largest_built(scope: Scope, sizes: Sizes, walked: int) -> int:
    """The largest item a `map` may make, which a macro after it may walk."""
    largest = 0
    for inner in scope.inner:
        if inner.macro == "map":
            largest = max(largest, _yields(inner, sizes, walked, sizes.largest_item))
        largest = max(largest, _largest_built(inner, sizes, walked))
    return largest


def why(cost: int, shape: Plan, sizes: Sizes, variables: dict[str, Any]) -> str:
    """Why an evaluation is refused, naming what made it cost so much."""
    where = path_to(variables, sizes.longest_container) if sizes.longest_container else None
    if shape.macros and sizes.longest >= shape.longest_literal and where:
        what = f"{where} holds {sizes.longest:,} items"
    elif shape.macros:
        what = f"a list in it holds up to {shape.longest_literal:,} items"
    elif where:
        what = f"it is given {sizes.values:,} values; {where} holds {sizes.longest:,}"
    else:
        what = f"it is given {sizes.values:,} values"
    return f"would take ~{cost:,} steps on this event, over {MAX_RUN_COST:,} ({what})"
