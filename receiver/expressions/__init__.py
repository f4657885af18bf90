"""Filters and transforms in CEL, beneath every feature: what is checked of an expression's
text and what it sees of an event (`rules.py`), its evaluation and vetting (`evaluate.py`),
asked of the worker processes (`pool.py`) that run it under a CPU and memory budget the
kernel enforces (`worker.py`)."""
