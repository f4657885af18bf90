"""The PostgreSQL backend, for several replicas on one database
(receiver/persist/postgres/store.py), with PostgreSQL's text of every statement
(receiver/persist/postgres/statements.py)."""

from receiver.persist.postgres.store import PostgresDb, PostgresStore

__all__ = ["PostgresDb", "PostgresStore"]
