"""The PostgreSQL backend, for several replicas on one database
(receiver/kernel/store/postgres/store.py, which needs the `postgres` extra); it runs each
statement's PostgreSQL text (`Sql.postgres`, receiver/kernel/store/db.py)."""
