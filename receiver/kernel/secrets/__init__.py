"""Secrets at work: signed callback tokens and media links, and secrets sealed at rest (the
Standard Webhooks signature of what goes out is the destinations':
receiver/destinations/signing.py)."""
