"""Observability: structured logs with secrets scrubbed, and Prometheus metrics."""
