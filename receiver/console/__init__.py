"""The operator console at /console: tasks, their videos and deliveries, live, in a browser."""

from receiver.console.routes import console_app

__all__ = ["console_app"]
