"""A running relay's admin API over HTTP, and its live stream: every failure is a
RemoteError. Imported by a command when it runs, so that its help loads no HTTP client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from receiver.cli.remote import TOKEN_ENV, EventReader, RemoteError, ServerEvent, StreamUnavailable


class Relay:
    """A running relay's API, with a token (the admin's, or an app's key)."""

    def __init__(self, url: str, token: str, token_env: str = TOKEN_ENV) -> None:
        self.url = url.rstrip("/")
        self.token_env = token_env  # where the token came from, named when it is refused
        self.http = httpx.Client(
            base_url=self.url,
            timeout=30.0,
            headers={"Authorization": f"Bearer {token}"},
        )

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(self._unreachable(exc)) from None
        _check(response, self.token_env)
        return response.json()

    def task(self, task_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/v1/tasks/{task_id}")
        return answer

    def follow(
        self, task_id: str | None = None, since: float | None = None, give_up: float = 60.0
    ) -> Iterator[ServerEvent]:
        """The live stream, for ever: reconnects where it left off when the connection
        drops, and gives up when the relay has been unreachable for `give_up` seconds."""
        reader = EventReader()
        params: dict[str, str] = {}
        if task_id:
            params["task_id"] = task_id
        if since is not None:
            params["since"] = repr(since)
        lost_since: float | None = None
        connected = False
        while True:
            headers = {"Last-Event-ID": reader.last_id} if reader.last_id else {}
            try:
                with self.http.stream(
                    "GET",
                    "/v1/stream",
                    params=params,
                    headers=headers,
                    timeout=httpx.Timeout(self.http.timeout.connect, read=None),
                ) as response:
                    if response.status_code == 404:
                        raise StreamUnavailable("this relay has no live stream")
                    if response.status_code != 200:
                        response.read()
                        _check(response, self.token_env)
                    connected, lost_since = True, None
                    for line in response.iter_lines():
                        event = reader.feed(line)
                        if event is not None:
                            yield event
            except httpx.HTTPError as exc:
                # Unreachable from the start: say so now. Lost later: the relay may be
                # restarting, so try again for a while, from the last event seen.
                lost_since = lost_since or time.monotonic()
                if not connected or time.monotonic() - lost_since > give_up:
                    raise RemoteError(self._unreachable(exc)) from None
            time.sleep((reader.retry_ms or 1000) / 1000)

    def _unreachable(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"the relay at {self.url} did not answer in time"
        reason = type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        return f"cannot reach the relay at {self.url}: {reason}"


def _check(response: httpx.Response, token_env: str) -> None:
    if response.is_success:
        return
    if response.status_code == 401:
        what = "the admin token" if token_env == TOKEN_ENV else "the key"
        raise RemoteError(f"the relay refused {what} (401): check ${token_env}")
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    reason = detail if isinstance(detail, str) and detail else response.reason_phrase
    raise RemoteError(f"the relay answered {response.status_code}: {reason}", response.status_code)
