"""SQLite's text of every statement: the texts of receiver/kernel/store/sql/, read once when this
module is loaded.

The `?` placeholders are sqlite3's own. A list parameter comes as one JSON array
(`SqliteDb.array`), so `= ANY(?)` reads its values with json_each: one fixed statement for
any number of them. One process writes at a time (BEGIN IMMEDIATE holds the only write
lock), so no row is locked and none skipped. Without ANALYZE statistics the planner may read
through the wrong index, so the statements that must not leave it no choice name theirs.
"""

from __future__ import annotations

from receiver.kernel.store.sql import texts_for
from receiver.kernel.store.sql.text import rewrite
from receiver.kernel.store.statements import Statements


def in_sqlite(text: str) -> str:
    """`text` as sqlite3 runs it: a list parameter read from its JSON array."""
    return rewrite(text, r"= ANY\(\?\)", lambda _: "IN (SELECT value FROM json_each(?))")


SQLITE = Statements(**{name: in_sqlite(text) for name, text in texts_for("sqlite").items()})
