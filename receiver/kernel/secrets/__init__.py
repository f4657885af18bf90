"""Secrets at work: signed callback tokens, secrets sealed at rest, and the Standard
Webhooks signature of what goes out."""
