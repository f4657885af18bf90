"""The lifecycle of a task, beneath every feature: its rules (its kinds and states, what
CometAPI reports and a callback claims, when it is polled, who gets a delivery, the event
document), its rows (the event, the task's state, its deliveries and copies, its polls), the
one story every door records an event through (`stories/observe.py`), and its edge to
CometAPI (`comet/`: the client and the tolerant parser, in the lifecycle's words)."""
