"""`format = "pubsub"`: a Google Cloud Pub/Sub topic, at
`pubsub://projects/PROJECT/topics/TOPIC`, delivered once Pub/Sub answers with the message's
id; its `orderingKey` is the task id, as Kafka's record key is.

It speaks Pub/Sub's REST API over aiohttp, the relay's own HTTP stack, with tokens from
google-auth (the `pubsub` extra): Application Default Credentials, and PUBSUB_EMULATOR_HOST
honoured as Google's clients do. For a downstream from the API, each connection is judged
as it is made, but the metadata server's (the machine's own, never the API's)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import orjson

from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.connection import Connected, Reconnecting, describe
from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import Binding
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms, ServerJudge
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net import guard
from receiver.kernel.net.guard import PrivateAddress
from receiver.kernel.net.outbound import IDLE_KEEPALIVE_SECONDS, tls_context

if TYPE_CHECKING:
    import aiohttp

WANTED = "pubsub://projects/PROJECT/topics/TOPIC"
_SHAPE = re.compile(r"^pubsub://projects/(?P<project>[^/?#]*)/topics/(?P<topic>[^/?#]*)$")
# Google's rules: a project id (a legacy one with its domain), a topic's name (never `goog…`).
_PROJECT = re.compile(r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_TOPIC = re.compile(r"[A-Za-z][A-Za-z0-9._~%+-]{2,254}")
ENDPOINT = "https://pubsub.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/pubsub"
# Pub/Sub's own limits on an attribute.
MAX_KEY_BYTES, MAX_VALUE_BYTES = 256, 1024


def topic_of(url: str) -> str:
    """`projects/P/topics/T`, the topic's resource name; ValueError saying what is wrong."""
    if (found := _SHAPE.match(url)) is None:
        raise ValueError(f"a pubsub downstream's url is {WANTED}")
    project, topic = found["project"], found["topic"]
    if not _PROJECT.fullmatch(project):
        wrong = f"its project {project!r} {_project_problem(project.rpartition(':')[2])}"
    elif topic.startswith("goog"):
        wrong = f"its topic {topic!r} starts with `goog`, which Google keeps for its own"
    elif not 3 <= len(topic) <= 255:
        wrong = f"its topic {topic!r} has {len(topic)} characters; a topic's name has 3 to 255"
    elif not ("a" <= topic[0].lower() <= "z"):
        wrong = f"its topic {topic!r} does not start with a letter"
    elif not _TOPIC.fullmatch(topic):
        wrong = f"its topic {topic!r} has a character other than letters, digits and -_.~+%"
    else:
        return f"projects/{project}/topics/{topic}"
    raise ValueError(f"a pubsub downstream's url is {WANTED}: {wrong}")


def _project_problem(project: str) -> str:
    """Why Google refuses this project id."""
    if not 6 <= len(project) <= 30:
        return f"has {len(project)} characters; a project id has 6 to 30"
    if not "a" <= project[0] <= "z":
        return "does not start with a lowercase letter"
    if project.endswith("-"):
        return "ends with a hyphen"
    return "has a character other than lowercase letters, digits and hyphens"


class PubsubDestination(BrokerDestination):
    metadata = METADATA["pubsub"]

    def check_url(self, url: str) -> str:
        topic_of(url)
        return url

    def check_settings(self, settings: Any) -> None:
        return None  # none of its own: the URL names the topic

    def target(self, settings: Any) -> BrokerTarget:
        return BrokerTarget(
            self.metadata.format, settings.url, topic_of(settings.url), timeout=settings.timeout
        )

    def target_addresses(self, settings: Any) -> list[str]:
        return [str(settings.url)]

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        return []  # Pub/Sub's own endpoint, or the operator's emulator

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        return Pubsub(target, max_in_flight)

    def binding(self, settings: Any) -> Binding | None:
        """Google's endpoint and the topic; no channel binding: AsyncAPI's for Pub/Sub
        requires the topic's schema settings, which a topic without a schema has not."""
        host = ENDPOINT.removeprefix("https://")
        return Binding("googlepubsub", address=topic_of(settings.url), host=host)


def pubsub_message(message: BrokerMessage) -> dict[str, Any]:
    """The message as Pub/Sub's REST API takes it: the headers, then the event's state and
    kind (what a subscription's filter reads), as attributes, none that Pub/Sub refuses."""
    event = message.event
    every = {
        **message.headers,
        "state": str(event.get("state") or ""),
        "kind": str(event.get("kind") or ""),
    }
    attributes = {name: value for name, value in every.items() if value and _fits(name, value)}
    made: dict[str, Any] = {
        "data": base64.b64encode(message.body).decode(),
        "attributes": attributes,
    }
    if task_id := str(event.get("task_id") or ""):
        made["orderingKey"] = task_id
    return made


def _fits(name: str, value: str) -> bool:
    """An attribute Pub/Sub takes: within its sizes, and not named as Google's own are."""
    short = len(name.encode()) <= MAX_KEY_BYTES and len(value.encode()) <= MAX_VALUE_BYTES
    return short and not name.lower().startswith("goog")


def refused(status: int, answer: bytes) -> str:
    """Pub/Sub's refusal in its own words (its message names the topic, never a credential)."""
    try:
        error = orjson.loads(answer)["error"]
        words = f" {error['status']}: {str(error['message'])[:160]}"
    except (orjson.JSONDecodeError, TypeError, KeyError):
        words = ""
    return f"not delivered: HTTP {status}{words}"


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer as google-auth reads one (`google.auth.transport.Response`)."""

    status: int
    headers: dict[str, str]
    data: bytes


async def judged(judge: ServerJudge | None, url: str, what: str) -> None:
    """The host of `url` judged: an address written as one never meets the session's
    resolver, which judges each connection to a name."""
    if judge is None:
        return
    parts = urlsplit(url)
    try:
        await judge(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except PrivateAddress as exc:
        raise DownstreamError(f"refused: {what}: {exc}") from None


class _Fetch:
    """google-auth's transport (called in a thread by a refresh), on the relay's loop."""

    def __init__(
        self, session: aiohttp.ClientSession, timeout: float, judge: ServerJudge | None
    ) -> None:
        self.session, self.timeout, self.judge = session, timeout, judge
        self.loop = asyncio.get_running_loop()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Answer:
        fetching = asyncio.run_coroutine_threadsafe(
            self._fetch(url, method, body, headers), self.loop
        )
        try:
            return fetching.result(self.timeout)
        except DownstreamError:  # the relay's own words (a refusal)
            raise
        except Exception as exc:
            fetching.cancel()
            raise DownstreamError(f"no Google access token: {describe(exc)}") from None

    async def _fetch(
        self, url: str, method: str, body: bytes | None, headers: dict[str, str] | None
    ) -> _Answer:
        await judged(self.judge, url, "the token endpoint")
        async with asyncio.timeout(self.timeout):
            async with self.session.request(method, url, data=body, headers=headers) as answer:
                return _Answer(answer.status, dict(answer.headers), await answer.read())


class _Tokens:
    """The access token, refreshed once at a time, in a thread: google-auth is blocking."""

    def __init__(self, credentials: Any, fetch: _Fetch) -> None:
        self.credentials, self.fetch = credentials, fetch
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        from google.auth.credentials import TokenState
        from google.auth.exceptions import GoogleAuthError

        if self.credentials.token_state != TokenState.FRESH:
            async with self._lock:
                if self.credentials.token_state != TokenState.FRESH:
                    try:
                        await asyncio.to_thread(self.credentials.refresh, self.fetch)
                    except GoogleAuthError as exc:
                        raise DownstreamError(f"no Google access token: {exc}"[:300]) from None
        headers: dict[str, str] = {}
        self.credentials.apply(headers)
        return headers


@dataclass
class _Client:
    session: aiohttp.ClientSession
    base: str  # Pub/Sub's endpoint, or the emulator's
    tokens: _Tokens | None  # None: the emulator takes none
    sessions: tuple[aiohttp.ClientSession, ...]  # every one to close


def _session(max_in_flight: int, guarded: bool) -> aiohttp.ClientSession:
    """A session whose resolver, `guarded`, judges each connection's addresses."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=max_in_flight,
            ssl=tls_context(),
            resolver=guard.resolver(not guarded),
            keepalive_timeout=IDLE_KEEPALIVE_SECONDS,
        ),
        headers={"User-Agent": "runway-relay"},
    )


def _credentials() -> Any:
    """Application Default Credentials, scoped to Pub/Sub (blocking)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except DefaultCredentialsError:
        raise DownstreamError(
            "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service"
            " account's key file, run on Google Cloud, or set PUBSUB_EMULATOR_HOST"
        ) from None
    return credentials


class Pubsub(Connected["_Client"]):
    def __init__(self, target: BrokerTarget, max_in_flight: int) -> None:
        self.target = target
        self.max_in_flight = max_in_flight
        self.topic = topic_of(target.url)
        self._conn = Reconnecting(self._open, self._shut, target.timeout)

    async def _open(self) -> _Client:
        judge = self.target.judge
        if emulator := os.environ.get("PUBSUB_EMULATOR_HOST"):
            base = f"http://{emulator}"
            await judged(judge, base, "PUBSUB_EMULATOR_HOST")
            session = _session(self.max_in_flight, judge is not None)
            return _Client(session, base, None, (session,))
        credentials = await asyncio.to_thread(_credentials)
        from google.auth import compute_engine

        session = _session(self.max_in_flight, judge is not None)
        if judge is not None and isinstance(credentials, compute_engine.Credentials):
            # The metadata server is link-local, and the machine's: its tokens are not judged.
            via = _session(1, guarded=False)
            fetch = _Fetch(via, self.target.timeout, None)
            return _Client(session, ENDPOINT, _Tokens(credentials, fetch), (session, via))
        fetch = _Fetch(session, self.target.timeout, judge)
        return _Client(session, ENDPOINT, _Tokens(credentials, fetch), (session,))

    @staticmethod
    async def _shut(client: _Client) -> None:
        for session in client.sessions:
            await session.close()

    async def publish(self, message: BrokerMessage) -> None:
        client = await self._conn.get()
        headers = {"Content-Type": "application/json"}
        if client.tokens is not None:
            headers |= await client.tokens.headers()
        url = f"{client.base}/v1/{quote(self.topic, safe='/')}:publish"
        body = orjson.dumps({"messages": [pubsub_message(message)]})
        try:
            async with asyncio.timeout(self.target.timeout):
                async with client.session.post(url, data=body, headers=headers) as answer:
                    status, said = answer.status, await answer.read()
        except Exception as exc:
            raise DownstreamError(f"publish failed: {describe(exc)}") from None
        if status != 200:
            raise DownstreamError(refused(status, said))
        try:
            ids = orjson.loads(said).get("messageIds")
        except (orjson.JSONDecodeError, AttributeError):
            ids = None
        if not ids:
            raise DownstreamError("not delivered: Pub/Sub answered without a message id")


PROVIDER = PubsubDestination()
