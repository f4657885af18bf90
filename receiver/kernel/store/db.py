"""What a backend gives the transaction functions: one open transaction, and its own SQL.

The functions of tasks.py, observations.py, outbox.py, reads.py, downstreams.py, mirrors.py,
sessions.py and migrate.py are written once, for both backends, and hold no SQL of their
own: each runs the statements of its backend (`db.sql`, receiver/kernel/store/statements.py).
Each text is written once for both (receiver/kernel/store/sql/), read in the driver's
placeholder style when the backend is loaded; where the dialects really differ (row locks,
claiming past other replicas, index hints, date arithmetic), both texts are written there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from receiver.kernel.store.statements import Statements

Row = dict[str, Any]


class Db(Protocol):
    """One transaction on one connection."""

    @property
    def sql(self) -> Statements:
        """This backend's text of every statement."""

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...
    def execute_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """`sql` once per row, in one round trip where the driver can (many small rows)."""

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None: ...
    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]: ...

    def script(self, sql: str) -> None:
        """Run SQL that takes no parameters (a migration's DDL), statement by statement."""

    def lock_migrations(self) -> None:
        """Hold off any other process migrating this database until the transaction ends."""

    def array(self, values: Sequence[str]) -> object:
        """`values` as the one parameter with which this backend's statements take a list."""
