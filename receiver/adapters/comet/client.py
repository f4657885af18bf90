"""The CometAPI client: submit Runway tasks and poll them, over one pooled httpx client."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from receiver.adapters.comet.parse import (
    NOT_EXIST,
    parse_envelope,
    parse_feed,
    parse_official_task,
    upstream_error_message,
)
from receiver.adapters.headers import retry_after
from receiver.adapters.jsonbody import load_json
from receiver.domain.observation import Observation
from receiver.errors import ParseError, UpstreamError, UpstreamTimeout
from receiver.observability.logs import scrub

REVERSE_KIND = "video2video"
SUBMIT_PATHS = {
    REVERSE_KIND: "/runway/pro/video2video",
    "video_to_video": "/runwayml/v1/video_to_video",
    "image_to_video": "/runwayml/v1/image_to_video",
}
_MAX_RAW = 64 * 1024
_MAX_WORDS = 500  # of CometAPI's words in an error: stored on a task, answered, logged


def _words(text: str) -> str:
    """CometAPI's words, safe to store and show: an answer to a wrong key can quote the key
    ("Incorrect API key provided: Bearer sk-..."). Every error text made of them goes
    through here; scrub() cuts it after the key is out."""
    return scrub(text, _MAX_WORDS)


def _refusal(payload: Any, fallback: str) -> str:
    return _words(upstream_error_message(payload, fallback))


@dataclass(frozen=True)
class Submitted:
    upstream_task_id: str
    raw: str
    status: int  # CometAPI's HTTP status


@dataclass(frozen=True)
class Polled:
    observation: Observation | None  # None: CometAPI does not know the task (yet)
    raw: str


class CometClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        runway_version: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "X-Runway-Version": runway_version,
                "User-Agent": "runway-relay",
            },
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise UpstreamTimeout("CometAPI did not answer in time") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"CometAPI unreachable: {type(exc).__name__}") from None

    @staticmethod
    def _json(response: httpx.Response) -> tuple[Any, str]:
        raw = response.text[:_MAX_RAW]
        try:
            return load_json(response.content), raw
        except ParseError:
            if response.is_success:
                raise UpstreamError(
                    "CometAPI answered with a body that is not JSON", response.status_code
                ) from None
            return None, raw

    async def submit(self, kind: str, body: dict[str, Any]) -> Submitted:
        response = await self._send("POST", SUBMIT_PATHS[kind], body)
        payload, raw = self._json(response)
        fallback = f"CometAPI answered HTTP {response.status_code}"
        if not response.is_success:
            # A throttled account is told how long to wait: the submit queue honours it.
            wait = retry_after(response.headers.get("retry-after"), time.time())
            raise UpstreamError(_refusal(payload, fallback), response.status_code, wait)
        upstream_id: object = None
        if kind == REVERSE_KIND:
            try:
                envelope = parse_envelope(payload)
            except ParseError as exc:
                raise UpstreamError(
                    _words(f"CometAPI answer unreadable: {exc}"), response.status_code
                ) from None
            if envelope.code and not envelope.ok:
                raise UpstreamError(_words(envelope.msg) or fallback, response.status_code)
            upstream_id = envelope.data.get("task_id") or envelope.data.get("id")
        elif isinstance(payload, dict):
            upstream_id = payload.get("id")
        if not isinstance(upstream_id, str | int) or not str(upstream_id).strip():
            raise UpstreamError("CometAPI accepted the task but sent no task id", 200)
        return Submitted(str(upstream_id).strip(), raw, response.status_code)

    async def cancel(self, upstream_task_id: str) -> None:
        """Cancel an official-format task (`DELETE /runwayml/v1/tasks/{id}`)."""
        path = f"/runwayml/v1/tasks/{quote(upstream_task_id, safe='')}"
        response = await self._send("DELETE", path, None)
        if not response.is_success:
            payload, _ = self._json(response)
            fallback = f"CometAPI answered HTTP {response.status_code}"
            raise UpstreamError(_refusal(payload, fallback), response.status_code)

    async def poll(self, kind: str, upstream_task_id: str) -> Polled:
        if kind == REVERSE_KIND:
            response = await self._send("POST", "/runway/feed", {"task_id": upstream_task_id})
        else:
            # The id comes from upstream; quote it so it can only ever be one path segment.
            path = f"/runwayml/v1/tasks/{quote(upstream_task_id, safe='')}"
            response = await self._send("GET", path, None)
        payload, raw = self._json(response)
        parse = parse_feed if kind == REVERSE_KIND else parse_official_task
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
            fallback = f"CometAPI answered HTTP {response.status_code}"
            raise UpstreamError(_refusal(payload, fallback), response.status_code)
        return Polled(result, raw)
