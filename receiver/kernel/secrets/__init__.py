"""Secrets at work: what the relay signs (callback tokens, media links, and the Standard
Webhooks signature of what goes out: `signing.py`), and secrets sealed at rest
(`sealing.py`)."""
