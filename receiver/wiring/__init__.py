"""The running process's parts, wired once at start-up (`service.py`), the work handed
over inside the process (`handoff.py`), and what a worker does with an item that raised
(`set_aside.py`): above the configuration, beneath every feature."""
