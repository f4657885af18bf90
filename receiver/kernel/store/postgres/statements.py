"""PostgreSQL's text of every statement: the texts of receiver/kernel/store/sql/, in psycopg's
`%s` placeholders, converted once when this module is loaded.

psycopg reads `%` anywhere in a statement, so a literal one is doubled. A list parameter is
one array (`PostgresDb.array`), read by `= ANY(?)` as it is written. Several replicas share
the database: a task is locked FOR UPDATE while a report about it is recorded, and claims
take due rows FOR UPDATE SKIP LOCKED, so that two replicas never take the same row and
neither waits for the other.
"""

from __future__ import annotations

from receiver.kernel.store.sql import texts_for
from receiver.kernel.store.sql.text import rewrite
from receiver.kernel.store.statements import Statements


def in_psycopg(text: str) -> str:
    """`text` as psycopg runs it: `%s` placeholders, a literal `%` doubled."""
    return rewrite(text.replace("%", "%%"), r"\?", lambda _: "%s")


POSTGRES = Statements(**{name: in_psycopg(text) for name, text in texts_for("postgres").items()})
