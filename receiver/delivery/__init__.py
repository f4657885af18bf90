"""Delivery: the fan-out worker, each downstream format's rendering, and signing."""
