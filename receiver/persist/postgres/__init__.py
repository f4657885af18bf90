"""The PostgreSQL backend, for several replicas on one database
(receiver/persist/postgres/store.py, which needs the `postgres` extra), with PostgreSQL's
text of every statement (receiver/persist/postgres/statements.py, which does not)."""
