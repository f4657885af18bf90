"""The lifecycle's tables, each written in one place only, a module or folder named for its
table: `tasks/` (a task taken in, its place in the submit queue, its polls and its state),
`events.py` and `mirrors.py` (the copies of renders); the outbox is the deliveries'
(receiver/deliveries/rows/outbox.py), the downstreams table the downstreams'
(receiver/downstreams/rows.py). A feature that changes one of them calls its functions;
tests/unit/test_tables.py holds it so."""
