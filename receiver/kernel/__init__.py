"""The kernel beneath everything: infrastructure only (the one exception tree,
observability, the store: `run`, `read`, migrations, the work a process takes; the HTTP
edge, outbound safety, secrets). The lifecycle of a task stands above it
(receiver/lifecycle/)."""
