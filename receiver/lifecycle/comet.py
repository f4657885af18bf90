"""CometAPI: the client that submits Runway tasks and polls them, over one pooled aiohttp
session, and the tolerant reading of what it sends. Field types drift in the wild (`code` as
200 or "success", times as strings or integers), so each reader accepts what it can."""

from __future__ import annotations

import asyncio
import importlib
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

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
from receiver.kernel.observability.logs import get_logger, scrub
from receiver.lifecycle.rules.task import Observation, State, is_callback, map_upstream, route_of

if TYPE_CHECKING:
    import aiohttp  # imported where a session is opened

_log = get_logger("receiver.comet")
_UNKNOWN_SEEN: set[str] = set()

_MAX_TEXT = 2000
# The common link, checked without splitting it: a host of letters, digits, dots and dashes,
# perhaps a port, then its path. Anything else (a user, brackets, odd characters) is split.
_PLAIN_LINK = re.compile(r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::([0-9]{1,5}))?(?:[/?#]|$)")
_SUCCESS_CODES = {"200", "0", "success", "ok"}


@dataclass(frozen=True)
class Envelope:
    """The `<code, msg, data>` envelope of the reverse format."""

    code: str
    msg: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code.lower() in _SUCCESS_CODES


NOT_EXIST = "task_not_exist"


def _text(value: object, limit: int = _MAX_TEXT) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else str(value)
    # Stored as TEXT: PostgreSQL refuses NUL, and no backend can encode a lone surrogate.
    # Plain ASCII has neither problem but NUL; the usual field skips the round trip.
    if not text.isascii() or "\x00" in text:
        text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text.strip()[:limit] or None


def _url(value: object) -> str | None:
    """A link with a host that the standard library can split (every reader splits it)."""
    if value is None:
        return None  # most of the fields read for links are absent
    text = _text(value, 4096)
    if not text or not text.startswith(("http://", "https://")):
        return None
    return _with_host(text)


def _with_host(link: str) -> str | None:
    """The common link matched at once, without being split (a callback holds several);
    any other split as `_split_with_host` does, to the same answer."""
    plain = _PLAIN_LINK.match(link)
    if plain is not None:
        return link if int(plain.group(1) or 0) <= 65535 else None
    return _split_with_host(link)


def _split_with_host(link: str) -> str | None:
    """`link` if the standard library splits it with a host and a port in range."""
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return None
    return link if parts.hostname else None


def _figure(value: object) -> float | None:
    """A number, or a string of one, finite or not: its reader says what infinity means."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf  # an integer past a float's range
    except ValueError:
        return None


def _number(value: object) -> float | None:
    """A finite number, given as a number or as a string of one."""
    number = _figure(value)
    return number if number is not None and math.isfinite(number) else None


def _epoch(value: object) -> float | None:
    """A time as epoch seconds: a number, a string of one, or an ISO 8601 string."""
    number = _number(value)
    if number is not None:
        return number if number > 0 else None
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def _still_running(state: State | None, word: str | None) -> State | None:
    """A status word no table knows yet: still under way (logged once, for the table)."""
    if state is not None or word is None:
        return state
    if word not in _UNKNOWN_SEEN and len(_UNKNOWN_SEEN) < 100:
        _UNKNOWN_SEEN.add(word)
        _log.warning("comet.unknown_status", status=word)
    return "running"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first_state(*words: object) -> tuple[State | None, str | None]:
    """The first word that maps to a canonical state, with the word itself."""
    for word in words:
        state = map_upstream(word)
        if state is not None:
            return state, _text(word, 64)
    return None, next((_text(w, 64) for w in words if _text(w, 64)), None)


# A callback's status may be a number in a string. Only "3", on a finished task with a
# `video_url`, is documented: any other is left unknown ("something changed, ask").
_FINISHED_NUMBER = "3"


def _callback_state(
    data: dict[str, Any], nested: dict[str, Any]
) -> tuple[State | None, str | None]:
    status = data.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        status = str(status)
    if isinstance(status, str) and status.strip().isdigit():
        word = status.strip()
        finished = word == _FINISHED_NUMBER and _url(data.get("video_url")) is not None
        return ("succeeded" if finished else None), word
    return _first_state(status, data.get("state"), nested.get("status"))


def _outputs(*sources: dict[str, Any]) -> tuple[str, ...]:
    urls: list[str] = []
    for src in sources:
        candidates = [src.get("video_url"), src.get("url")]
        output = src.get("output")
        candidates.extend(output if isinstance(output, list) else [output])
        for candidate in candidates:
            url = _url(candidate)
            if url and url not in urls:
                urls.append(url)
    return tuple(urls)


def _error(state: State | None, *sources: dict[str, Any]) -> str | None:
    if state not in ("failed", "cancelled"):
        return None
    for src in sources:
        for key in ("fail_reason", "failure", "failureCode", "error", "msg", "message"):
            text = _text(src.get(key))
            if text:
                return text
    return None


def _data_object(payload: dict[str, Any]) -> object:
    data = payload.get("data")
    if isinstance(data, str):
        # Some senders double-encode `data`.
        try:
            return load_json(data.encode(), keep_nul=True)
        except ParseError:
            return None
    return data


def _reverse(
    data: dict[str, Any],
    nested: dict[str, Any],
    state: State | None,
    word: str | None,
    error: str | None,
    task_id: object,
    times: tuple[str, str],
) -> Observation:
    """A callback's or a feed answer's `data`; `times` names its created and updated fields."""
    return Observation(
        state=state,
        upstream_status=word,
        upstream_task_id=_text(task_id, 200),
        outputs=_outputs(data, nested),
        thumbnail=_url(data.get("poster")) or _url(data.get("last_frame")),
        error=error,
        progress=_text(data.get("progress"), 16),
        point=_figure(data.get("point")),  # as given: sane_credits refuses what is no price
        refund=_figure(data.get("refund")),
        upstream_created_at=_epoch(data.get(times[0])),
        upstream_updated_at=_epoch(data.get(times[1])),
        failure_code=_failure_code(state, data, nested),
    )


def parse_envelope(payload: Any) -> Envelope:
    """Read the `<code, msg, data>` envelope; `data` must be an object."""
    if not isinstance(payload, dict):
        raise ParseError("not an envelope: top level must be a JSON object")
    data = _data_object(payload)
    if not isinstance(data, dict):
        raise ParseError("not an envelope: `data` must be a JSON object")
    code = _text(payload.get("code"), 64) or ""
    msg = _text(payload.get("msg") if "msg" in payload else payload.get("message")) or ""
    return Envelope(code=code, msg=msg, data=data)


_FLAT_KEYS = ("task_id", "status", "state")


def _callback_envelope(payload: Any) -> Envelope:
    """The documented flat body (the task's fields at the top level) or the envelope."""
    if not isinstance(payload, dict):
        raise ParseError("not a callback: top level must be a JSON object")
    if "data" in payload or not any(key in payload for key in _FLAT_KEYS):
        try:
            return parse_envelope(payload)
        except ParseError:
            raise ParseError(
                "not a callback: neither a flat body with task_id and status"
                " nor an envelope with a `data` object"
            ) from None
    return Envelope(code="", msg="", data=payload)


def parse_callback(body: bytes) -> tuple[Envelope, Observation]:
    """An inbound callback, flat or enveloped: the envelope, and what it claims."""
    envelope = _callback_envelope(load_json(body, keep_nul=True))
    data = envelope.data
    nested = _dict(data.get("data"))
    state, word = _callback_state(data, nested)
    if state is None and envelope.code and not envelope.ok:
        # A callback is only sent when a task ends: an error code without a status is a failure.
        state = "failed"
    error = _error(state, data, nested)
    if state == "failed" and error is None:
        error = envelope.msg or None
    task_id = data.get("task_id") or data.get("id")
    times = ("create_time", "update_time")
    return envelope, _reverse(data, nested, state, word, error, task_id, times)


def parse_feed(payload: Any) -> Observation | str:
    """An answer of `POST /runway/feed`: an observation, or NOT_EXIST for an unknown task."""
    if not isinstance(payload, dict):
        raise ParseError("feed answer is not a JSON object")
    code = (_text(payload.get("code"), 64) or "").lower()
    if code == NOT_EXIST or not isinstance(payload.get("data"), dict):
        # Not cut short here: the client scrubs CometAPI's words of secrets before cutting.
        message = _text(payload.get("message") or payload.get("msg")) or code
        if NOT_EXIST in (code, message):
            return NOT_EXIST
        raise ParseError(f"feed answer without data: {message or 'no message'}")
    data = payload["data"]
    nested = _dict(data.get("data"))
    state, word = _first_state(data.get("status"), data.get("state"), nested.get("status"))
    state = _still_running(state, word)
    error = _error(state, data, nested)
    task_id = data.get("task_id") or nested.get("id")
    return _reverse(data, nested, state, word, error, task_id, ("submit_time", "finish_time"))


def parse_official_task(payload: Any) -> Observation | str:
    """An answer of `GET /runwayml/v1/tasks/{id}`, bare or wrapped in an envelope."""
    if not isinstance(payload, dict):
        raise ParseError("task answer is not a JSON object")
    if NOT_EXIST in (_text(payload.get("code"), 64), _text(payload.get("error"), 64)):
        return NOT_EXIST
    task = payload["data"] if isinstance(payload.get("data"), dict) else payload
    state, word = _first_state(task.get("status"), task.get("state"))
    if word is None:
        raise ParseError("task answer has no status")
    state = _still_running(state, word)
    progress = task.get("progress")
    return Observation(
        state=state,
        upstream_status=word,
        upstream_task_id=_text(task.get("id"), 200),
        outputs=_outputs(task),
        error=_error(state, task),
        progress=_text(progress, 16),
        upstream_created_at=_epoch(task.get("createdAt")),
        failure_code=_failure_code(state, task),
        point=_charged(state, task.get("cost")),
    )


def _charged(state: State | None, cost: object) -> float | None:
    """An ended task's `cost.credits` (an unfinished one's `estimatedCost` is no charge)."""
    if state not in ("succeeded", "failed", "cancelled") or not isinstance(cost, dict):
        return None
    return _figure(cost.get("credits"))


def _failure_code(state: State | None, *sources: dict[str, Any]) -> str | None:
    """Runway's `failureCode` of a failed task (the reverse format nests Runway's task)."""
    if state != "failed":
        return None
    return next((c for src in sources if (c := _text(src.get("failureCode"), 100))), None)


def upstream_error_message(payload: Any, fallback: str) -> str:
    """CometAPI's own words for an error, wherever in the body it put them."""
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            err = err.get("message") or err.get("code")
        for candidate in (err, payload.get("msg"), payload.get("message")):
            text = _text(candidate)  # cut by the client, once it has scrubbed the text
            if text:
                return text
    return fallback


# --- the client ----------------------------------------------------------------------------

_MAX_RAW = 64 * 1024
_MAX_WORDS = 500  # of CometAPI's words in an error: stored on a task, answered, logged


def _words(text: str) -> str:
    """CometAPI's words, safe to store and show: an answer to a wrong key can quote the key.
    scrub() cuts the text after the key is out."""
    return scrub(text, _MAX_WORDS)


def _refusal(payload: Any, fallback: str) -> str:
    return _words(upstream_error_message(payload, fallback))


def _refused(payload: Any, response: _Answer) -> UpstreamError:
    """CometAPI's refusal, with how long a throttled account is told to wait."""
    wait = retry_after(response.headers.get("retry-after"), time.time())
    fallback = f"CometAPI answered HTTP {response.status}"
    return UpstreamError(_refusal(payload, fallback), response.status, wait)


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
    """A JSON body too large to hold at once: its length, and a fresh iterator a send."""

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
    """One pooled aiohttp session, opened on first use (aiohttp wants a running loop)."""

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

    @property
    def ready(self) -> bool:
        """Whether aiohttp is imported: a request waiting on CometAPI must not wait for it."""
        return self._http is not None

    async def open(self) -> None:
        """Its HTTP client opened with aiohttp imported on a thread, the loop serving on."""
        if self._http is None:
            await asyncio.to_thread(importlib.import_module, "aiohttp")
            self._session()

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
        if not response.is_success:
            raise _refused(payload, response)
        upstream_id: object = None
        if is_callback(kind):
            try:
                envelope = parse_envelope(payload)
            except ParseError as exc:
                raise UpstreamError(
                    _words(f"CometAPI answer unreadable: {exc}"), response.status
                ) from None
            if envelope.code and not envelope.ok:
                fallback = f"CometAPI answered HTTP {response.status}"
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

    async def poll(self, kind: str | None, upstream_task_id: str) -> Polled:
        """CometAPI's answer on a task of `kind` (None: a callback came, so the feed's)."""
        reverse = kind is None or is_callback(kind)
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
            raise _refused(payload, response)
        return Polled(result, raw)
