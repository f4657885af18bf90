"""The relay's own HTTP API: admin routes over tasks, deliveries and downstreams; media, health
and metrics; the live stream of changes."""
