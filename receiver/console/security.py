"""The console's security headers, on every answer it gives (pages, redirects, refusals);
who may see a page or send a form is decided per route (core.py)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FRAMED_BY = "frame_ancestors"  # the scope state's key for the origins that may frame an answer


class SecurityHeaders:
    """Headers on every console answer: scripts and styles from the relay only, no framing,
    no referrer, no caching of pages that show tasks and deliveries.

    With `framing`, an answer may be framed by the origins a handler put in the request's
    state under FRAMED_BY (an app's portal); by none when it put none there."""

    def __init__(self, app: ASGIApp, media_origin: str, framing: bool = False) -> None:
        self.app = app
        self.framing = framing
        self.policy = (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' {media_origin} https: data:; "
            f"media-src 'self' {media_origin} https:; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors "
        )
        self.headers = [
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]

    def _framing(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        origins = scope.get("state", {}).get(FRAMED_BY) if self.framing else None
        if origins:
            policy = self.policy + " ".join(origins)
            return [(b"content-security-policy", policy.encode())]
        policy = self.policy + "'none'"
        return [(b"content-security-policy", policy.encode()), (b"x-frame-options", b"DENY")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(scope.get("root_path", "") + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self._framing(scope))
                headers.extend(self.headers)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
