"""The HTTP destinations' publisher: each message sent as one request its downstream's way
(its session, proxy and `auth`), the target of a URL from the API judged first. And the
message every publisher takes, signed over its body as sent (`message_of`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit, urlunsplit

from receiver.destinations import cloudevents
from receiver.destinations.metadata import METADATA
from receiver.destinations.publishing import Message, Outcome, undelivered
from receiver.expressions.rules import Shaped
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net import guard
from receiver.kernel.net.credentials import TokenSource
from receiver.kernel.net.outbound import retry_after, transport_errors
from receiver.kernel.observability import logs, tracing
from receiver.kernel.secrets import message_signatures
from receiver.kernel.secrets import signing as sign
from receiver.outbox.rules.delivery import Answer, DeliveryJob

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
# What a send's answer says of the message it made (Telegram's), given its path and answer.
Posted = Callable[[str, str], tuple[str, bool] | None]


def storable(text: str) -> str:
    """`text` as either store holds it: each NUL replaced."""
    return text.translate(_UNSTORABLE) if "\x00" in text else text


def with_path(url: str, path: str) -> str:
    if not path:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


class Sender(sign.Rotating, Protocol):
    """What a message's downstream holds for it (receiver/config/load.py's `Downstream`)."""

    @property
    def format(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def signing(self) -> str: ...

    @property
    def envelope(self) -> str: ...


def signed_headers(
    downstream: Sender,
    message_id: str,
    body: bytes,
    sent: tuple[str, str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with every secret in use now (two during
    a rotation's overlap), and the attempt's `traceparent`. `signing = "rfc9421"` signs the
    request (`sent`) with its `whsk_` keys instead; a `whsec_` one still signs Standard
    Webhooks' signature (until a rotation brings the key)."""
    now = time.time()
    secrets = sign.secrets_in_use(downstream, now)
    keys = message_signatures.keys_of(secrets) if downstream.signing == "rfc9421" else []
    signed = sign.headers([s for s in secrets if s not in keys], message_id, int(now), body)
    if keys and sent is not None:
        method, url, headers = sent
        signed |= message_signatures.signature_headers(
            method, url, headers | signed, body, keys, int(now)
        )
    return signed | tracing.current_headers()


def message_of(
    downstream: Sender, job: DeliveryJob, shaped: Shaped, origin: cloudevents.Origin | None = None
) -> Message:
    """The delivery as its publisher takes it, signed over its body as sent; `origin`: its
    CloudEvents `source` and type prefix, for a downstream in a CloudEvent envelope."""
    message_id = job.delivery.id
    if downstream.envelope != "relay":
        context = cloudevents.attributes(job.payload, message_id, origin or cloudevents.Origin(""))
        binding = METADATA[downstream.format].binding
        sent_body, sent_headers = cloudevents.enveloped(
            downstream.envelope, binding, context, shaped.body, shaped.headers
        )
        shaped = replace(shaped, body=sent_body, headers=sent_headers)
    body = shaped.body
    # The URL as it is sent (RFC 9421 signs it): Telegram's method after the token.
    target = with_path(job.webhook or downstream.url, shaped.path)
    sent = (shaped.method, target, shaped.headers)
    headers = shaped.headers | signed_headers(downstream, message_id, body, sent)
    event = job.payload
    return Message(message_id, body, event, headers, shaped.method, shaped.path, job.webhook)


@dataclass(eq=False)
class Route:
    """How one downstream's requests leave: its session, opened at its first request (a
    relay starts without aiohttp), the proxy, whether each target is judged first (a URL
    from the API), and its `auth` (`basic`'s and `bearer`'s `Authorization`, or `oauth2`'s
    token source); `proxy_names`: the names the proxy may resolve unjudged; `lets_go`: how
    a session shared with others (its app's) is given back when the route closes (None:
    the session is its own, and closed)."""

    opens: Callable[[], aiohttp.ClientSession]
    proxy: str | None
    judged: bool
    tokens: TokenSource | None = None
    authorization: str | None = None
    proxy_names: tuple[str, ...] = ()
    lets_go: Callable[[aiohttp.ClientSession], Awaitable[None]] | None = None
    _session: aiohttp.ClientSession | None = field(default=None, init=False)
    _closed: bool = field(default=False, init=False)

    @property
    def session(self) -> aiohttp.ClientSession:
        """Its session; DownstreamError once it was closed (the downstream changed)."""
        if self._session is None and not self._closed:
            self._session = self.opens()
        if self._closed or self._session is None or self._session.closed:
            raise DownstreamError("the downstream was changed or removed")
        return self._session

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await (session.close() if self.lets_go is None else self.lets_go(session))


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]
    proxy: str | None


def request_of(message: Message, url: str, proxy: str | None) -> Request:
    """The request `message` is sent as (its path, like the URL, a credential: never logged);
    `auth` is added as it goes out (`send`): an OAuth2 token may change."""
    target = with_path(message.url or url, message.path)
    return Request(message.method, target, message.body, message.headers, proxy)


class HttpPublisher:
    """One downstream's requests, each bounded as a whole by its timeout (a downstream
    trickling its answer byte by byte would otherwise outlive it, and then the lease)."""

    def __init__(self, route: Route, url: str, timeout: float, posted: Posted | None = None):
        self.route, self.url, self.timeout, self._posted = route, url, timeout, posted

    async def publish(self, message: Message) -> Outcome:
        request = request_of(message, self.url, self.route.proxy)
        try:
            async with asyncio.timeout(self.timeout):
                with transport_errors(undelivered):
                    reply = await send(request, self.route)
        except TimeoutError:
            return Outcome(Answer(failure=f"timed out after {self.timeout:g}s"))
        except DownstreamError as exc:
            return Outcome(Answer(failure=exc.detail))
        status = reply.status
        answer = Answer(status, f"HTTP {status}: {reply.start}", reply.retry_after, reply.abort)
        # A send's message that later events edit (Telegram's), once it was made.
        made = self._posted is not None and 200 <= status < 300
        posted = self._posted(message.path, reply.start) if made and self._posted else None
        return Outcome(answer, posted, logs.scrub(reply.start, EXCERPT_CHARS))

    async def close(self) -> None:
        await self.route.close()


async def judge_target(url: str, proxied: bool, proxy_names: tuple[str, ...] = ()) -> None:
    """A URL from the API, before it is sent (guard.PrivateAddress): an address written in
    it is never resolved, so it is checked here; through a proxy, which resolves the name
    itself, the name must resolve here to public addresses only, unless it is one of the
    operator's `delivery.proxy_names`."""
    host = urlsplit(url).hostname or ""
    if not proxied:
        guard.check_literal(host)
    elif guard.literal_address(host) is None and any(
        fnmatchcase(host.lower().rstrip("."), name.lower()) for name in proxy_names
    ):
        guard.check_host(host)
    else:
        await guard.check_resolved(host, proxied=True)


async def send(request: Request, route: Route) -> Reply:
    """`request` sent its downstream's way, with its `auth`; an OAuth2 token the endpoint
    refuses (a 401) is fetched again once, and the request sent once more with it."""
    if route.judged:
        await judge_target(request.url, route.proxy is not None, route.proxy_names)
    if route.authorization is not None:
        return await post(route.session, _authorized(request, route.authorization))
    if route.tokens is None:
        return await post(route.session, request)
    token = await _token(route)
    reply = await post(route.session, _authorized(request, f"Bearer {token}"))
    if reply.status == 401:
        route.tokens.refused(token)
        reply = await post(route.session, _authorized(request, f"Bearer {await _token(route)}"))
    return reply


async def _token(route: Route) -> str:
    """The token source's token, asked the downstream's own way, its URL judged."""
    assert route.tokens is not None
    session = route.session

    async def judge(url: str) -> None:
        if route.judged:
            await judge_target(url, route.proxy is not None, route.proxy_names)

    return await route.tokens.token(session, route.proxy, judge)


def _authorized(request: Request, authorization: str) -> Request:
    # After the transform's headers: auth's value wins (a static one is refused).
    return replace(request, headers={**request.headers, "Authorization": authorization})


@dataclass(frozen=True)
class Reply:
    """A downstream's answer: its status, the start of its body, any Retry-After, and
    whether it asked to stop retrying (Svix's `webhook-delivery`)."""

    status: int
    start: str
    retry_after: float | None
    abort: bool


async def post(session: aiohttp.ClientSession, request: Request) -> Reply:
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
