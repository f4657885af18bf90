"""The lifecycle of a task, beneath every feature: its rules (its kinds and states, what
CometAPI reports and a callback claims, when it is polled, the event document), its rows
(each of its tables written in one module or folder only: the tasks, their events and
copies), the one transaction every door records an event through
(`transactions/observe.py`, writing the event's deliveries through the outbox's rows), a
callback's claim and the polls that settle it (`transactions/polls.py`), and its edge to
CometAPI (`comet.py`: the client and the tolerant parser, in the lifecycle's words)."""
