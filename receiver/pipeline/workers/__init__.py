"""The workers that move a task: submit, poll, mirror, prune, and the background gauges."""
