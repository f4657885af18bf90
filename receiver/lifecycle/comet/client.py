"""The CometAPI client: submit Runway tasks and poll them, over one pooled aiohttp session."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from receiver.kernel.errors import ParseError, UpstreamError, UpstreamTimeout
from receiver.kernel.http.body import load_json
from receiver.kernel.net.outbound import (
    IDLE_KEEPALIVE_SECONDS,
    Failure,
    env_proxy,
    retry_after,
    tls_context,
    transport_errors,
)
from receiver.kernel.observability.logs import scrub
from receiver.lifecycle.comet.parse import (
    NOT_EXIST,
    parse_envelope,
    parse_feed,
    parse_official_task,
    upstream_error_message,
)
from receiver.lifecycle.rules.reports import Observation
from receiver.lifecycle.rules.task import is_callback, route_of

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened

_MAX_RAW = 64 * 1024
_MAX_WORDS = 500  # of CometAPI's words in an error: stored on a task, answered, logged


def _words(text: str) -> str:
    """CometAPI's words, safe to store and show: an answer to a wrong key can quote the key
    ("Incorrect API key provided: Bearer sk-..."). Every error text made of them goes
    through here; scrub() cuts it after the key is out."""
    return scrub(text, _MAX_WORDS)


def _refusal(payload: Any, fallback: str) -> str:
    return _words(upstream_error_message(payload, fallback))


def _unanswered(failure: Failure) -> UpstreamError:
    if failure.kind == "timeout":
        return UpstreamTimeout("CometAPI did not answer in time")
    return UpstreamError(f"CometAPI unreachable: {failure.reason}")


@dataclass(frozen=True)
class Submitted:
    upstream_task_id: str
    raw: str
    status: int  # CometAPI's HTTP status


@dataclass(frozen=True)
class Polled:
    observation: Observation | None  # None: CometAPI does not know the task (yet)
    raw: str


@dataclass(frozen=True)
class StreamedBody:
    """A JSON body too large to hold at once: its length in bytes, and its bytes in order
    (a fresh iterator for each send)."""

    length: int
    chunks: Callable[[], AsyncIterator[bytes]]


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class CometClient:
    """One pooled aiohttp session, opened on first use (aiohttp wants a running loop): a poll
    costs a fraction of what it did through httpx, whose pool checks every pooled
    connection on each request."""

    def __init__(self, base_url: str, api_key: str, runway_version: str, timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "X-Runway-Version": runway_version,
            "User-Agent": "runway-relay",
        }
        self._timeout = timeout
        self._proxy = env_proxy(self._base)  # as httpx did: HTTPS_PROXY unless NO_PROXY
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            import aiohttp  # at the first call: a relay answers /healthz without it

            self._http = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(
                    limit=64,
                    limit_per_host=64,
                    ssl=tls_context(),
                    keepalive_timeout=IDLE_KEEPALIVE_SECONDS,
                ),
                auto_decompress=True,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | StreamedBody | None
    ) -> _Answer:
        data: bytes | AsyncIterator[bytes] | None = None
        headers: dict[str, str] | None = None
        if isinstance(body, StreamedBody):
            # A stated length: sent as one body, never in HTTP chunks.
            data = body.chunks()
            headers = {"Content-Type": "application/json", "Content-Length": str(body.length)}
        elif body is not None:
            data = orjson.dumps(body)
            headers = {"Content-Type": "application/json"}
        with transport_errors(_unanswered):
            async with self._session().request(
                method,
                self._base + path,
                data=data,
                headers=headers,
                proxy=self._proxy,
                allow_redirects=False,
            ) as response:
                return _Answer(response.status, response.headers, await response.read())

    @staticmethod
    def _json(response: _Answer) -> tuple[Any, str]:
        raw = response.text[:_MAX_RAW]
        try:
            return load_json(response.content, exact_numbers=False), raw
        except ParseError:
            if response.is_success:
                raise UpstreamError(
                    "CometAPI answered with a body that is not JSON", response.status
                ) from None
            return None, raw

    async def submit(self, kind: str, body: dict[str, Any] | StreamedBody) -> Submitted:
        response = await self._send("POST", route_of(kind), body)
        payload, raw = self._json(response)
        fallback = f"CometAPI answered HTTP {response.status}"
        if not response.is_success:
            # A throttled account is told how long to wait: the submit queue honours it.
            wait = retry_after(response.headers.get("retry-after"), time.time())
            raise UpstreamError(_refusal(payload, fallback), response.status, wait)
        upstream_id: object = None
        if is_callback(kind):
            try:
                envelope = parse_envelope(payload)
            except ParseError as exc:
                raise UpstreamError(
                    _words(f"CometAPI answer unreadable: {exc}"), response.status
                ) from None
            if envelope.code and not envelope.ok:
                raise UpstreamError(_words(envelope.msg) or fallback, response.status)
            upstream_id = envelope.data.get("task_id") or envelope.data.get("id")
        elif isinstance(payload, dict):
            # Plain (`{id}`) or wrapped in CometAPI's `{code, message, data}`.
            data = payload.get("data")
            upstream_id = data.get("id") if isinstance(data, dict) else payload.get("id")
        if not isinstance(upstream_id, str | int) or not str(upstream_id).strip():
            raise UpstreamError("CometAPI accepted the task but sent no task id", 200)
        return Submitted(str(upstream_id).strip(), raw, response.status)

    async def cancel(self, upstream_task_id: str) -> None:
        """Cancel an official-format task (`DELETE /runwayml/v1/tasks/{id}`)."""
        path = f"/runwayml/v1/tasks/{quote(upstream_task_id, safe='')}"
        response = await self._send("DELETE", path, None)
        if not response.is_success:
            payload, _ = self._json(response)
            fallback = f"CometAPI answered HTTP {response.status}"
            raise UpstreamError(_refusal(payload, fallback), response.status)

    async def poll(self, kind: str, upstream_task_id: str) -> Polled:
        reverse = is_callback(kind)
        if reverse:
            response = await self._send("POST", "/runway/feed", {"task_id": upstream_task_id})
        else:
            # The id comes from upstream; quote it so it can only ever be one path segment.
            path = f"/runwayml/v1/tasks/{quote(upstream_task_id, safe='')}"
            response = await self._send("GET", path, None)
        payload, raw = self._json(response)
        parse = parse_feed if reverse else parse_official_task
        try:
            result = parse(payload) if payload is not None else None
        except ParseError as exc:
            if response.is_success:
                unreadable = _words(f"CometAPI poll answer unreadable: {exc}")
                raise UpstreamError(unreadable, 200) from None
            result = None
        if result == NOT_EXIST:
            return Polled(None, raw)
        if not response.is_success or not isinstance(result, Observation):
            fallback = f"CometAPI answered HTTP {response.status}"
            # A throttled account is told how long to wait: the poller holds its polls.
            wait = retry_after(response.headers.get("retry-after"), time.time())
            raise UpstreamError(_refusal(payload, fallback), response.status, wait)
        return Polled(result, raw)
