"""A task's states, kinds and reports, claims and their verdicts, the document downstreams
get, its progress, when it is polled next, the queue's refusals, and the event catalog."""
