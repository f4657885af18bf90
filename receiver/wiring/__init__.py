"""The running process's parts, wired once at start-up (`service.py`), and the work handed
over inside the process (`handoff.py`): above the configuration, beneath every feature."""
