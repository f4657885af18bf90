"""The lifecycle's tables, each written in one place only, a module or folder named for its
table: `tasks/` (a task taken in, its place in the submit queue, its polls and its state),
`events.py`, `deliveries.py` (the outbox), `mirrors.py` (the copies of renders) and
`downstreams.py` (their health, and those made through the API). A feature that changes
one of them calls its functions; tests/unit/test_tables.py holds it so."""
