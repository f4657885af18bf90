"""A task's rows: the task, its data URIs and its history (`tasks.py`), its place in the
submit queue and its sends (`queue.py`)."""
