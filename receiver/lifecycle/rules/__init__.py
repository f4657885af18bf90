"""What a task is (`task.py`: states, kinds), what CometAPI tells of it (`reports.py`: an
observation, a claim and its verdict), when it is polled (`polling.py`: timing, the poll
budget), who gets what (`routing.py`: recipients, the event document, progress events), the
submit queue's refusals (`queue.py`), and the event catalog (`catalog.py`)."""
