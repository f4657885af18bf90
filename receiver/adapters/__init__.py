"""Adapters: how the relay speaks to the outside, with no need of the running service.

CometAPI's client and its tolerant parser (`comet/`), Standard Webhooks signing
(`webhooks.py`), the signed callback tokens (`tokens.py`), the private-address guard for
URLs that come from outside (`guard.py`), media downloads, storage and links (`media/`), and
each downstream format's rendering (`render/`). Nothing here imports the pipeline or the web
layer; they are given plain values.
"""
