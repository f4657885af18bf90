"""What a backend gives the functions that read and write rows: one open transaction, and
`Sql`, the text of one statement as each backend runs it.

A statement is a module-level `Sql` constant right beside the function that runs it. Its text
is written once, in the common part of SQLite's and PostgreSQL's SQL, with `?` for each
parameter in the order the function passes them; each backend's text is made from it once,
when the module is loaded. A list of values is one parameter, written `= ANY(?)`; a parameter
only tested for NULL is written `CAST(? AS TEXT) IS NULL`, since PostgreSQL cannot tell the
type of a bare one. Where the dialects really differ (row locks, claiming past other
replicas, index hints, date arithmetic, the store's size), both texts stand side by side:
`Sql(sqlite=..., postgres=...)`, each in the same `?` style. A function never builds SQL.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Row = dict[str, Any]
R = TypeVar("R", bound="DataclassInstance")


def record(cls: type[R], row: Row, **given: Any) -> R:
    """The record `cls` of a row: each field its column of the same name, but those `given`
    (a column read as JSON, or of another name)."""
    return cls(**{f.name: row[f.name] for f in fields(cls) if f.name not in given}, **given)


def new_id(prefix: str) -> str:
    """Time-ordered, unique id: sorts by creation, safe to show, no coordination needed."""
    return f"{prefix}_{time.time_ns():x}{os.urandom(6).hex()}"


# A quoted literal, matched first so that what is inside one is never taken for SQL.
_LITERAL = r"'(?:[^']|'')*'"


def rewrite(text: str, pattern: str, outside: Callable[[str], str]) -> str:
    """`text` with each match of `pattern` outside its quoted literals given by `outside`."""
    found = re.compile(f"({_LITERAL})|{pattern}")
    return found.sub(lambda m: m.group(1) or outside(m.group(0)), text)


def in_sqlite(text: str) -> str:
    """`text` as sqlite3 runs it: a list parameter (one JSON array, `SqliteDb.array`) read
    with json_each, so one fixed statement takes any number of values."""
    return rewrite(text, r"= ANY\(\?\)", lambda _: "IN (SELECT value FROM json_each(?))")


def in_psycopg(text: str) -> str:
    """`text` as psycopg runs it: `%s` placeholders, a literal `%` doubled. A list parameter
    is one array (`PostgresDb.array`), read by `= ANY(?)` as it is written."""
    return rewrite(text.replace("%", "%%"), r"\?", lambda _: "%s")


class Sql:
    """One statement: its text written once (`Sql(text)`), or once per backend where the
    dialects differ (`Sql(sqlite=..., postgres=...)`); each backend's own text is made once."""

    __slots__ = ("postgres", "sqlite", "written")

    def __init__(
        self, text: str | None = None, *, sqlite: str | None = None, postgres: str | None = None
    ) -> None:
        if (text is None) == (sqlite is None or postgres is None) or (
            text is not None and (sqlite is not None or postgres is not None)
        ):
            raise TypeError("Sql takes one text, or both a sqlite= and a postgres= text")
        #: The text as written: one string for both, or (sqlite, postgres).
        self.written: str | tuple[str, str] = (
            text if text is not None else (str(sqlite), str(postgres))
        )
        self.sqlite = in_sqlite(text if text is not None else str(sqlite))
        self.postgres = in_psycopg(text if text is not None else str(postgres))

    @property
    def per_backend(self) -> bool:
        return isinstance(self.written, tuple)

    def __repr__(self) -> str:
        return f"Sql({self.written!r})"


class Db(Protocol):
    """One transaction on one connection."""

    def execute(self, sql: Sql, params: tuple[Any, ...] = ()) -> int: ...
    def execute_many(self, sql: Sql, rows: Sequence[tuple[Any, ...]]) -> None:
        """`sql` once per row, in one round trip where the driver can (many small rows)."""

    def one(self, sql: Sql, params: tuple[Any, ...] = ()) -> Row | None: ...
    def all(self, sql: Sql, params: tuple[Any, ...] = ()) -> list[Row]: ...

    def script(self, sql: str) -> None:
        """Run SQL that takes no parameters (a migration's DDL), statement by statement."""

    def lock_migrations(self) -> None:
        """Hold off any other process migrating this database until the transaction ends."""

    def array(self, values: Sequence[str]) -> object:
        """`values` as the one parameter with which this backend's statements take a list."""
