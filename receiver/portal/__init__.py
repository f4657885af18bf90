"""An app's portal at /portal: its endpoints, deliveries and tasks, opened by a link."""

from receiver.portal.core import Portal
from receiver.portal.routes import portal_app

__all__ = ["Portal", "portal_app"]
