"""The running process's parts, wired once at start-up (`service.py`), what a worker or a
route stands on and what a worker does with an item that raised (`worker_parts.py`), and the
routes' dependencies (`dependencies.py`): above the configuration, beneath every feature."""
