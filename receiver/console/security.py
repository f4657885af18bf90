"""The console's security headers, on every answer it gives (pages, redirects, refusals).

Who may see a page and send a form (the session cookie, the CSRF token, the same-origin
check) is decided per route: `Console.page` and `Console.action` in core.py, with the rules
of session.py.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    """Headers on every console answer: scripts and styles from the relay only, no framing,
    no referrer, no caching of pages that show tasks and deliveries."""

    def __init__(self, app: ASGIApp, media_origin: str) -> None:
        self.app = app
        self.headers = [
            (
                b"content-security-policy",
                (
                    "default-src 'none'; script-src 'self'; style-src 'self'; "
                    f"img-src 'self' {media_origin} https: data:; "
                    f"media-src 'self' {media_origin} https:; connect-src 'self'; "
                    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
                ).encode(),
            ),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(scope.get("root_path", "") + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
