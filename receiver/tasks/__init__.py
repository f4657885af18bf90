"""Tasks and the submit queue: a task taken in under its key's limits, queued in fair
turns, sent to CometAPI by the submit worker, cancelled, read and listed; their routes."""
