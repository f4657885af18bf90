"""The operator console at /console: tasks, their videos and deliveries, live, in a browser."""

from receiver.console.core import Console
from receiver.console.routes import console_app

__all__ = ["Console", "console_app"]
