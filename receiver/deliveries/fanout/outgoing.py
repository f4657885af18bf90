"""What one delivery attempt sends besides its body (its transport failures are told by
receiver/kernel/net/outbound.py), the format's own body, and the request itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from receiver.config import Downstream
from receiver.config.downstream import BasicAuth, BearerAuth, endpoint_auth
from receiver.destinations import message_signatures
from receiver.destinations.registry import render, with_path
from receiver.expressions.rules import Shaped
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net import guard
from receiver.kernel.net.credentials import TokenSource, basic_authorization
from receiver.kernel.net.headers import retry_after
from receiver.kernel.observability import tracing
from receiver.kernel.secrets import webhooks as sign
from receiver.lifecycle.rules.records import DeliveryJob
from receiver.lifecycle.rules.retries import Answer

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened

# How much of an answer is read for last_error: more than it keeps, so that a secret the
# answer quotes across the kept part's end (a Discord token after an HTML page's head) is
# whole when it is scrubbed.
READ_ANSWER = 4096
# How much of an answer's body is kept with an attempt (and a test event's), scrubbed.
EXCERPT_CHARS = 500
# PostgreSQL's text holds no NUL: an answer quoting one would fail its attempt's record,
# and the delivery would be sent again on every lease. Kept as U+FFFD instead.
_UNSTORABLE = str.maketrans({"\x00": "\ufffd"})


def storable(text: str) -> str:
    """`text` as either store holds it: each NUL replaced."""
    return text.translate(_UNSTORABLE) if "\x00" in text else text


def signed_headers(
    downstream: Downstream,
    message_id: str,
    body: bytes,
    sent: tuple[str, str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with every secret in use now (two during
    a rotation's overlap), and the attempt's `traceparent`: the receiver's own tracing goes
    on in the task's trace. `signing = "rfc9421"` signs the request (`sent`: its method, URL
    and other headers) with RFC 9421 signatures instead, with its `whsk_` keys; a `whsec_`
    one (until a rotation brings the key) still signs Standard Webhooks' signature."""
    now = time.time()
    secrets = downstream.signing_secrets(now)
    keys = message_signatures.keys_of(secrets) if downstream.signing == "rfc9421" else []
    signed = sign.headers([s for s in secrets if s not in keys], message_id, int(now), body)
    if keys and sent is not None:
        method, url, headers = sent
        signed |= message_signatures.signature_headers(
            method, url, headers | signed, body, keys, int(now)
        )
    return signed | tracing.current_headers()


async def judge_target(url: str, proxied: bool, proxy_names: tuple[str, ...] = ()) -> None:
    """A URL from the API, before it is sent: an address written in it is never resolved,
    so it is checked here; through a proxy, which resolves the name itself, the name must
    resolve here to public addresses only, unless it is one of the operator's
    `delivery.proxy_names` (a name only the proxy's network knows). Raises
    guard.PrivateAddress."""
    host = urlsplit(url).hostname or ""
    if not proxied:
        guard.check_literal(host)
    elif guard.literal_address(host) is None and any(
        fnmatchcase(host.lower().rstrip("."), name.lower()) for name in proxy_names
    ):
        guard.check_host(host)
    else:
        await guard.check_resolved(host, proxied=True)


def default_body(downstream: Downstream, job: DeliveryJob) -> Shaped:
    """The format's own body: the `webhook` event (every broker publishes it too), or a chat
    platform's message, with the path to append (Telegram's Bot API method)."""
    fmt = "webhook" if downstream.broker is not None else downstream.format
    rendered = render(fmt, job.payload, downstream.url, job.posted)
    return Shaped(rendered.body, path=rendered.path)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]
    proxy: str | None


@dataclass(frozen=True)
class Way:
    """How one downstream's requests leave: its session (None once changed or removed), the
    proxy, whether each target is judged first (a URL from the API), and its `auth`: the
    `Authorization` of `basic` and `bearer`, made once, or `oauth2`'s token source;
    `proxy_names`: the names the proxy may resolve unjudged."""

    session: aiohttp.ClientSession | None
    proxy: str | None
    judged: bool
    tokens: TokenSource | None = None
    authorization: str | None = None
    proxy_names: tuple[str, ...] = ()


def fixed_authorization(downstream: Downstream) -> str | None:
    """The `Authorization` value of a downstream's `basic` or `bearer` auth; None for none,
    and for `oauth2` (its token changes)."""
    auth = endpoint_auth(downstream)
    if isinstance(auth, BasicAuth):
        return basic_authorization(auth.username, auth.password)
    if isinstance(auth, BearerAuth):
        return f"Bearer {auth.token}"
    return None


def request_of(
    downstream: Downstream, url: str, shaped: Shaped, message_id: str, proxy: str | None
) -> Request:
    """The request a delivery (or a test event) sends to `url`: the shaped body, method and
    path, its headers (static, the transform's), signed over the body as sent. `auth` is
    added as it goes out (`send`), for an OAuth2 token may change between attempts."""
    body = shaped.body
    # Telegram's Bot API method goes after the token in the path; like the URL itself (a
    # credential), the result is never logged.
    target = with_path(url, shaped.path)
    sent = (shaped.method, target, shaped.headers)
    headers = shaped.headers | signed_headers(downstream, message_id, body, sent)
    return Request(shaped.method, target, body, headers, proxy)


async def send(request: Request, way: Way) -> Reply:
    """`request` sent its downstream's way: its target judged first when it came through
    the API (guard.PrivateAddress), then with its `auth`; an OAuth2 token the endpoint
    refuses (a 401) is fetched again once, and the request sent once more with the new one."""
    if way.judged:
        await judge_target(request.url, way.proxy is not None, way.proxy_names)
    if way.authorization is not None:
        return await post(way.session, _authorized(request, way.authorization))
    if way.tokens is None:
        return await post(way.session, request)
    token = await _token(way)
    reply = await post(way.session, _authorized(request, f"Bearer {token}"))
    if reply.status == 401:
        way.tokens.refused(token)
        reply = await post(way.session, _authorized(request, f"Bearer {await _token(way)}"))
    return reply


async def _token(way: Way) -> str:
    """The token source's token, asked through the downstream's own session and proxy, its
    URL judged as the target is."""
    assert way.tokens is not None
    if way.session is None or way.session.closed:
        raise DownstreamError("the downstream was changed or removed")

    async def judge(url: str) -> None:
        if way.judged:
            await judge_target(url, way.proxy is not None, way.proxy_names)

    return await way.tokens.token(way.session, way.proxy, judge)


def _authorized(request: Request, authorization: str) -> Request:
    # After the transform's headers: auth's value wins (a static one is refused).
    return replace(request, headers={**request.headers, "Authorization": authorization})


@dataclass(frozen=True)
class Reply:
    """A downstream's answer: its status, the start of its body (never the whole of it),
    any Retry-After, and whether it asked to stop retrying (Svix's `webhook-delivery`)."""

    status: int
    start: str
    retry_after: float | None
    abort: bool


@dataclass(frozen=True)
class Sent:
    """What one attempt brought back: the answer its retry rules judge, the chat message
    it posted (Telegram edits the task's later states into it), and the start of the
    answer's body, scrubbed of secrets."""

    answer: Answer
    posted: tuple[str, bool] | None = None
    excerpt: str | None = None


async def post(session: aiohttp.ClientSession | None, request: Request) -> Reply:
    if session is None or session.closed:
        raise DownstreamError("the downstream was changed or removed")
    async with session.request(
        request.method,
        request.url,
        data=request.body,
        headers=request.headers,
        allow_redirects=False,
        proxy=request.proxy,
    ) as response:
        snippet = b""
        while len(snippet) < READ_ANSWER:
            chunk = await response.content.read(READ_ANSWER - len(snippet))
            if not chunk:
                break
            snippet += chunk
        wait = retry_after(response.headers.get("retry-after"), time.time())
        abort = response.headers.get("webhook-delivery", "").lower() == "abort-message"
        return Reply(response.status, storable(snippet.decode("utf-8", "replace")), wait, abort)
