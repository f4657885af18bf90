"""Logging in with the admin token, and out (a logout revokes the session in the store, for
every replica). The login form's CSRF token is bound to a cookie of its own (session.py);
failed attempts are braked per client (brake.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from receiver.console.core import Console, Form, local
from receiver.console.session import (
    BROWSER_COOKIE,
    KNOWN_BROWSER_SECONDS,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    Session,
    check_form,
)
from receiver.keys.transactions import sessions


class Login:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def form(self, request: Request) -> Response:
        root = self.console.root(request)
        target = local(request.query_params.get("next"), root, f"{root}/")
        if await self.console.session_of(request) is not None:
            return RedirectResponse(target, status_code=303)
        return self._page(request, target, None, 200)

    def _page(self, request: Request, target: str, error: str | None, status: int) -> Response:
        console = self.console
        cookie = None
        nonce = console.sessions.read_login(request.cookies.get(LOGIN_COOKIE))
        if nonce is None:
            cookie, nonce = console.sessions.issue_login()
        response = console.render(
            request,
            "login.html",
            None,
            status,
            csrf=console.sessions.csrf_for(nonce),
            next=target,
            error=error,
        )
        if cookie is not None:
            self._set_cookie(request, response, LOGIN_COOKIE, cookie, LOGIN_FORM_SECONDS)
        return response

    def _set_cookie(
        self, request: Request, response: Response, name: str, value: str, max_age: int | None
    ) -> None:
        """A console cookie: HttpOnly, SameSite=Strict, Secure over https; `max_age` None
        for the session's own lifetime."""
        console = self.console
        response.set_cookie(
            name,
            value,
            max_age=console.sessions.max_age if max_age is None else max_age,
            path=console.root(request) or "/",
            secure=console.secure(request),
            httponly=True,
            samesite="strict",
        )

    async def login(self, request: Request) -> Response:
        console, log = self.console, self.console.log
        root = console.root(request)
        form = await console.read_form(request)
        nonce = console.sessions.read_login(request.cookies.get(LOGIN_COOKIE))
        check_form(console.sessions, nonce, form, request.headers, console.origins(request))
        target = local(form.get("next"), root, f"{root}/")
        # The connection's address, or what a proxy named in server.trusted_proxies said.
        client = request.client.host if request.client else "unknown"
        browser = console.sessions.read_browser(request.cookies.get(BROWSER_COOKIE))
        known = browser is not None
        wait = console.brake.retry_after(client, browser)
        if wait is not None:
            log.warning("console.login_limited", client=client, known_browser=known)
            who = "this browser" if known else "your address"
            message = f"Too many failed logins from {who}: try again in {wait:.0f} s."
            response = self._page(request, target, message, 429)
            response.headers["Retry-After"] = f"{wait:.0f}"
            return response
        if not console.sessions.token_matches(form.get("token", "")):
            console.brake.failed(client, browser)
            log.warning("console.login_failed", client=client, known_browser=known)
            return self._page(request, target, "That is not the admin token.", 401)
        console.brake.succeeded(client, browser)
        log.info("console.login", client=client, known_browser=known)
        response = RedirectResponse(target, status_code=303)
        self._set_cookie(request, response, SESSION_COOKIE, console.sessions.issue(), None)
        # Marks this browser as the operator's: its logins are braked apart from its address.
        known_cookie = console.sessions.issue_browser(browser)
        self._set_cookie(request, response, BROWSER_COOKIE, known_cookie, KNOWN_BROWSER_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path=root or "/")
        return response

    async def logout(self, request: Request, session: Session, form: Form) -> Response:
        # Revoked in the store first: a copy of the cookie kept elsewhere ends too.
        await sessions.end(self.console.store, session.id, session.expires_at)
        self.console.access_changed()  # its open streams end
        root = self.console.root(request)
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path=root or "/", secure=self.console.secure(request), httponly=True
        )
        return response
