"""The console's refusals and failures as HTML pages, with the status the API would give."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from receiver.console.core import Console
from receiver.kernel.errors import RelayError
from receiver.kernel.http.errors import answer_for


class ErrorPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def relay_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RelayError)
        return self.console.error_page(request, answer_for(exc)[0], exc.detail)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = "There is no such page." if exc.status_code == 404 else exc.detail
        response = self.console.error_page(request, exc.status_code, detail)
        response.headers.update(exc.headers or {})
        return response

    async def crash(self, request: Request, exc: Exception) -> Response:
        # Never a stack trace on a page; the server's log has it.
        return self.console.error_page(request, 500, "Something went wrong; it has been logged.")
