"""How the relay proves itself to an endpoint that asks: a TLS client certificate (mutual
TLS, or a private CA trusted alone), HTTP Basic, a bearer token, or an OAuth2 access token
fetched with client credentials (RFC 6749, 4.4).

One `TokenSource` per downstream and process keeps its OAuth2 token, so that a burst, or a
401 seen by many deliveries, fetches one. The token is the endpoint's choice: it is cut out
of that downstream's own lines only (its `redactor`), never searched for in every line."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import certifi
import orjson

from receiver.kernel.errors import DownstreamError
from receiver.kernel.observability import logs

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened

# A token is fetched again this long before it expires (at most a tenth of its life), so
# that no delivery goes out with one about to lapse on the way.
_EARLY_SECONDS = 30.0
# How much of a token endpoint's answer is read: its JSON, or the start of an error page.
_TOKEN_ANSWER = 64 * 1024


@functools.lru_cache(maxsize=64)
def client_tls(cert: str | None, key: str | None, ca: str | None) -> ssl.SSLContext:
    """A TLS context for one endpoint: `ca` (PEM) trusted alone when given (a private CA),
    else certifi's bundle; `cert` and `key` (PEM) presented when the server asks for a
    client certificate. ssl.SSLError (or ValueError) when a PEM does not load. Kept for the
    next session of the same PEMs (a changed downstream, a test event): loading certifi's
    bundle takes about 47 ms of the event loop, one given CA about 3 ms."""
    context = ssl.create_default_context(cafile=None if ca else certifi.where(), cadata=ca)
    if cert and key:
        # The standard library loads a chain only from files: the key is written to a file
        # only its owner may read (mkstemp's 0600), for the load alone.
        handle, path = tempfile.mkstemp(prefix="relay-tls-", suffix=".pem")
        try:
            with os.fdopen(handle, "w") as pem:
                pem.write(f"{key.strip()}\n{cert.strip()}\n")
            context.load_cert_chain(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    return context


def tls_problem(cert: str | None, key: str | None, ca: str | None) -> str | None:
    """Why these PEMs make no TLS context (no PEM quoted: a key is a secret)."""
    if bool(cert) != bool(key):
        return "client_cert and client_key go together"
    if not (cert or ca):
        return "give client_cert and client_key, or ca, or both"
    try:
        client_tls(cert, key, ca)
    except ssl.SSLError as exc:
        what = "ca is no PEM certificate" if ca and "cadata" in str(exc) else None
        return what or f"the certificate or key does not load ({exc.reason or 'not PEM'})"
    except (ValueError, OSError, TypeError):  # TypeError: ssl takes ASCII PEM text only
        return "ca is no PEM certificate" if ca else "the certificate or key does not load"
    return None


def basic_authorization(username: str, password: str) -> str:
    """An `Authorization` header's value for HTTP Basic (RFC 7617, UTF-8)."""
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class ClientCredentials:
    """What an OAuth2 token endpoint is asked with."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    audience: str | None = None


# Called on the token endpoint's URL before it is asked: the address guard, as for any
# URL the relay sends to. Raises to refuse.
Judge = Callable[[str], Awaitable[None]]


class TokenSource:
    """One downstream's OAuth2 access token, shared by every delivery there in a process."""

    def __init__(self, credentials: ClientCredentials) -> None:
        self.credentials = credentials
        self._lock = asyncio.Lock()  # one fetch at a time: those that waited take its token
        self._token: str | None = None  # None: none, or refused
        self._held: str | None = None  # the last one fetched
        # The last token and the one before (an attempt may still be out with it).
        self.redactor = logs.Redactor()
        self._until = 0.0
        self.fetches = 0  # tokens asked for, this process

    async def token(self, session: aiohttp.ClientSession, proxy: str | None, judge: Judge) -> str:
        """The token in use, fetched first when there is none or it is about to expire."""
        if self._token is not None and time.time() < self._until:
            return self._token
        async with self._lock:
            # Fetched by another delivery while this one waited: theirs is ours.
            if self._token is not None and time.time() < self._until:
                return self._token
            await judge(self.credentials.token_url)
            token, lifetime = await self._fetch(session, proxy)
            self.redactor.hold([token, self._held])
            self._token = self._held = token
            early = min(_EARLY_SECONDS, lifetime / 10) if lifetime else 0.0
            self._until = time.time() + lifetime - early if lifetime else float("inf")
            return token

    def refused(self, token: str) -> None:
        """The endpoint answered 401 to `token`: fetch a new one next time, unless another
        delivery has already dropped it (and maybe fetched its successor)."""
        if self._token == token:
            self._token = None

    async def _fetch(self, session: aiohttp.ClientSession, proxy: str | None) -> tuple[str, float]:
        c = self.credentials
        form = {"grant_type": "client_credentials", "client_id": c.client_id}
        form["client_secret"] = c.client_secret
        if c.scope:
            form["scope"] = c.scope
        if c.audience:
            form["audience"] = c.audience
        self.fetches += 1
        async with session.post(
            c.token_url,
            data=form,
            # Named here: a delivery session's default Content-Type is JSON.
            headers={
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            allow_redirects=False,
            proxy=proxy,
        ) as answer:
            raw = await answer.content.read(_TOKEN_ANSWER)
            status = answer.status
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            document = None
        if not isinstance(document, dict):
            raise DownstreamError(f"the token endpoint answered HTTP {status}, not a JSON object")
        if status != 200 or not isinstance(token := document.get("access_token"), str):
            # RFC 6749 5.2: `error` is a code (`invalid_client`); nothing else is quoted.
            code = document.get("error")
            said = f" ({code[:64]})" if isinstance(code, str) and code.isprintable() else ""
            raise DownstreamError(f"the token endpoint answered HTTP {status}{said}: no token")
        try:  # a number, or (some servers) a number as a string
            lifetime = max(0.0, float(document.get("expires_in") or 0))
        except (TypeError, ValueError):
            lifetime = 0.0
        return token, lifetime
