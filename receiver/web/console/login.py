"""Logging in with the admin token, and out: the session cookie is set and cleared here.

The login form carries a CSRF token bound to a short-lived cookie of its own, and failed
attempts are braked per client address (session.py has both rules).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from receiver.web.console.core import Console, Form, local
from receiver.web.console.session import (
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    Session,
    check_form,
)


class Login:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def form(self, request: Request) -> Response:
        root = self.console.root(request)
        target = local(request.query_params.get("next"), root, f"{root}/")
        if self.console.session_of(request) is not None:
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
            response.set_cookie(
                LOGIN_COOKIE,
                cookie,
                max_age=LOGIN_FORM_SECONDS,
                path=console.root(request) or "/",
                secure=console.secure(request),
                httponly=True,
                samesite="strict",
            )
        return response

    async def login(self, request: Request) -> Response:
        console, log = self.console, self.console.service.log
        root = console.root(request)
        form = await console.read_form(request)
        nonce = console.sessions.read_login(request.cookies.get(LOGIN_COOKIE))
        check_form(console.sessions, nonce, form, request.headers, console.origins(request))
        target = local(form.get("next"), root, f"{root}/")
        client = request.client.host if request.client else "unknown"
        wait = console.limiter.retry_after(client)
        if wait is not None:
            log.warning("console.login_limited", client=client)
            response = self._page(
                request,
                target,
                f"Too many failed logins from your address: try again in {wait:.0f} s.",
                429,
            )
            response.headers["Retry-After"] = f"{wait:.0f}"
            return response
        if not console.sessions.token_matches(form.get("token", "")):
            console.limiter.failed(client)
            log.warning("console.login_failed", client=client)
            return self._page(request, target, "That is not the admin token.", 401)
        console.limiter.succeeded(client)
        log.info("console.login", client=client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            console.sessions.issue(),
            max_age=console.sessions.max_age,
            path=root or "/",
            secure=console.secure(request),
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(LOGIN_COOKIE, path=root or "/")
        return response

    async def logout(self, request: Request, session: Session, form: Form) -> Response:
        root = self.console.root(request)
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path=root or "/", secure=self.console.secure(request), httponly=True
        )
        return response
