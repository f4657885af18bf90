"""The pipeline: the service's parts wired together, and the workers that move a task.

submit -> (CometAPI) -> intake of callbacks -> poller (CometAPI's own answer) -> fanout
(deliveries) and mirror (copies of renders). `service.py` wires them and decides which worker
a change wakes; `operations.py` is every operator action, whichever door it comes in by.
"""
