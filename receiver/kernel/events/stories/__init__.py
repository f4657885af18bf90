"""The one story every door records an event through: an observation kept, applied when
it moves the task forward, one delivery per subscriber (`observe.py`); progress told
(`progress.py`)."""
