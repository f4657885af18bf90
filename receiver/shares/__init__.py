"""Share links: a task's read-only link for an app's own user, sealed and opened, the
page behind it, and its routes."""
