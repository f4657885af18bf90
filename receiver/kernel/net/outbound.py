"""How the relay's own HTTP clients go out: which proxy a URL goes through, settled once per
client from the environment (aiohttp's `trust_env` would read the environment and ~/.netrc
again on every request, in a thread), and the one TLS context they verify with."""

from __future__ import annotations

import functools
import ssl
import urllib.request
from urllib.parse import urlsplit

import certifi

# How long an idle pooled connection is kept for the next request: below the 5 s many
# servers keep one (uvicorn, gunicorn, Node.js). aiohttp's 15 s lets a request go out on a
# connection the server is closing at that moment, and it gets no answer (a reset).
IDLE_KEEPALIVE_SECONDS = 4.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificates verified against certifi's bundle (what httpx used), loaded once."""
    return ssl.create_default_context(cafile=certifi.where())


def env_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY / HTTPS_PROXY name for `url`, unless NO_PROXY exempts its host."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)
