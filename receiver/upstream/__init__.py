"""Upstream: CometAPI's client, tolerant parsing of what it sends, submitting, polling."""
