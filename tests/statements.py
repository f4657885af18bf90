"""Every statement the relay runs, found where it is written: each module-level `Sql`
constant of the receiver package, named by its module and constant (no registry lists them).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager

import receiver
from receiver.kernel.store.db import Sql
from receiver.kernel.store.sqlite.store import SqliteDb

try:
    from receiver.kernel.store.postgres.store import PostgresDb
except ModuleNotFoundError:  # the core install, without the postgres extra
    PostgresDb = None  # type: ignore[assignment,misc]

# Modules that need an optional extra, or start something when imported, hold no statement.
_SKIPPED = ("receiver.__main__",)


def every_statement() -> dict[str, Sql]:
    """`module.NAME` -> statement, for each `Sql` constant where it is defined (an import of
    one elsewhere is the same object, named once)."""
    found: dict[int, tuple[str, Sql]] = {}
    for info in pkgutil.walk_packages(receiver.__path__, "receiver."):
        if info.name.startswith(_SKIPPED):
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("receiver"):
                raise
            continue  # it needs an extra this install lacks (its statements are read where it is)
        for name, value in vars(module).items():
            fresh = isinstance(value, Sql) and id(value) not in found
            if fresh and _defined_in(module.__file__, name):
                found[id(value)] = (f"{info.name}.{name}", value)
    return dict(sorted(found.values(), key=lambda pair: pair[0]))


def _defined_in(path: str | None, name: str) -> bool:
    """True when `name = Sql(` is written in the file (not only imported there)."""
    if path is None:
        return False
    with open(path, encoding="utf-8") as source:
        return any(line.startswith(f"{name} = Sql(") for line in source)


@contextmanager
def statements_run() -> Iterator[set[int]]:
    """The ids of the `Sql` objects both backends' `Db` are given while this is open: the
    calls go on to the database as ever, each statement noted on its way."""
    seen: set[int] = set()
    saved = []
    for cls in (c for c in (SqliteDb, PostgresDb) if c is not None):
        for method in ("execute", "execute_many", "one", "all"):
            original = getattr(cls, method)
            saved.append((cls, method, original))
            setattr(cls, method, _noting(original, seen))
    try:
        yield seen
    finally:
        for cls, method, original in saved:
            setattr(cls, method, original)


def _noting(original, seen):  # type: ignore[no-untyped-def]
    def noted(self, sql, *args):  # type: ignore[no-untyped-def]
        seen.add(id(sql))
        return original(self, sql, *args)

    return noted
