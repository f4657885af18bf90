"""The PostgreSQL backend, for several replicas on one database
(receiver/persist/postgres/store.py, which needs the `postgres` extra); it runs each
statement's PostgreSQL text (`Sql.postgres`, receiver/persist/db.py)."""
