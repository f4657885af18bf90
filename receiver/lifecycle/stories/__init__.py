"""The one story every door records an event through (`observe.py`): an observation kept,
applied when it moves the task forward, one delivery per subscriber; progress told. And the
leases a process holds, given back (`leases.py`)."""
