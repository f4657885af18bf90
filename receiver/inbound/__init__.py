"""Inbound: the callback route, the check of its signed URL, and the capped body read."""
