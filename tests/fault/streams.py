"""A live stream followed from a thread: what it carried, and when it ended."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx

from tests.harness import wait_for


class Watch:
    """Opens `path` on `client` and reads it until the server ends it (or `close`)."""

    def __init__(self, client: httpx.Client, path: str, **kwargs: Any) -> None:
        self.lines: list[str] = []
        self.status: int | None = None
        self.ended_at: float | None = None  # monotonic
        self.error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._read, args=(client, path, kwargs), daemon=True)
        self._thread.start()
        wait_for(lambda: self.lines or self.ended_at, timeout=30)  # subscribed by now

    def _read(self, client: httpx.Client, path: str, kwargs: dict[str, Any]) -> None:
        try:
            timeout = httpx.Timeout(15, read=120)
            with client.stream("GET", path, timeout=timeout, **kwargs) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    self.lines.append(line)
                    if self._stop:
                        return
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended_at = time.monotonic()

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def events(self) -> list[str]:
        return [line for line in self.lines if line.startswith("event: ")]

    def ended_within(self, since: float, timeout: float = 30) -> float:
        """Seconds from `since` (monotonic) to the stream's end; fails if it stays open."""
        wait_for(lambda: not self.open, timeout=timeout)
        assert self.ended_at is not None and self.error is None, self.error
        return round(self.ended_at - since, 3)

    def close(self) -> None:
        self._stop = True


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)
