"""The PostgreSQL backend, for several replicas on one database
(receiver/kernel/store/postgres/store.py, which needs the `postgres` extra), with PostgreSQL's
text of every statement (receiver/kernel/store/postgres/statements.py, which does not)."""
