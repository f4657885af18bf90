"""Secrets at work: signed callback tokens and media links, secrets sealed at rest, and the
signatures of what goes out (signing.py: Standard Webhooks; message_signatures.py: RFC
9421)."""
