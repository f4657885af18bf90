"""The kernel beneath everything: infrastructure only (the one exception tree,
configuration, observability, the store: `run`, `read`, migrations, leases; the HTTP edge,
outbound safety, secrets). The lifecycle of a task stands above it (receiver/lifecycle/)."""
