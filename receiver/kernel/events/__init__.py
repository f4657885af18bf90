"""The shared recording of an event: its rules (a task's states, an observation, the document
downstreams get), its rows (the event, the task's state, its deliveries and copies) and the one
story every door records through (`stories/observe.py`)."""
