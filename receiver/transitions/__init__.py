"""How a task changes, one story per module, each read top to bottom: a callback arrives
(`callback.py`), a poll answers (`poll.py`), a submit is accepted or refused (`submit.py`), a
task is cancelled (`cancel.py`), a delivery attempt ends (`delivery.py`), ended tasks are
pruned (`pruning.py`), a downstream's life in the store (`downstreams.py`). Each calls the
domain's pure rules and has the store write what they decide in one transaction
(`Store.run`); `observe.py` is the step they share, `queries.py` what the service reads,
each answer in one snapshot."""
