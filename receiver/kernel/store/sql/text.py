"""How a statement's text is written here, once for both backends, and what each backend
changes in it when the module is loaded.

A text is written in the common part of SQLite's and PostgreSQL's SQL, with `?` for each
parameter in the order the statement takes them (receiver/kernel/store/statements.py). A list of
values is one parameter, written `= ANY(?)`; a parameter only tested for NULL is written
`CAST(? AS TEXT) IS NULL`, since PostgreSQL cannot tell the type of a bare one. A statement
whose text really differs between the backends (row locks, index hints, the date arithmetic,
the store's size) is a `PerBackend`, both texts written out, in the same `?` style.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Backend = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class PerBackend:
    """A statement written out for each backend, where the common text will not do."""

    sqlite: str
    postgres: str


Texts = dict[str, str | PerBackend]

# A quoted literal, matched first so that what is inside one is never taken for SQL.
_LITERAL = r"'(?:[^']|'')*'"


def rewrite(text: str, pattern: str, outside: Callable[[str], str]) -> str:
    """`text` with each match of `pattern` outside its quoted literals given by `outside`."""
    found = re.compile(f"({_LITERAL})|{pattern}")
    return found.sub(lambda m: m.group(1) or outside(m.group(0)), text)
