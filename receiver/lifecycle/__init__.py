"""The lifecycle of a task, beneath every feature: its rules, its rows, the transactions
that record what is learnt of it (a report, a callback's claim, a poll), and its edge to
CometAPI (`comet.py`)."""
