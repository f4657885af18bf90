"""The lifecycle's transactions, one transaction each: the one every door records an event
through (`observe.py`: an observation kept, applied when it moves the task forward, one
delivery per subscriber; progress told); the polls leased within the budget, timed, and
their answers recorded with the callbacks' claims they settle, and a callback kept as such
a claim (`polls.py`); and what a process lets go of, its leases and a task set aside
(`leases.py`). None calls up into a feature."""
