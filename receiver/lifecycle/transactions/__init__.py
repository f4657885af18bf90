"""The lifecycle's transactions, one transaction each: the one every door records an event
through (`observe.py`: an observation kept, applied when it moves the task forward, one
delivery per subscriber; progress told); a callback kept as a claim (`claims.py`); the polls
leased within the budget, timed, and their answers recorded with the claims they settle
(`polls.py`); and what a process lets go of, its leases and a task set aside
(`leases.py`). None calls up into a feature."""
