"""Deliveries: the fan-out that sends each outbox row to its downstream (`fanout/`),
attempts, retries, dead letters and replays, a downstream disabled and enabled, the test
event and the preview of a filter and transform, and their routes."""
