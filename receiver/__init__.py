"""runway-relay: submit Runway tasks through CometAPI, receive their callbacks, fan them out."""

__version__ = "0.1.0"
