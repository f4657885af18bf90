"""A delivery's rules, pure and beneath the lifecycle: the outbox's records, who gets a
delivery and in what state, whose a downstream is, its retries, breaker and lanes
(`delivery.py`); and every type of event a downstream may receive, with an example of each
(`event_types.py`)."""
