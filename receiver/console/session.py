"""Who may use the console: a signed session cookie, CSRF tokens bound to it, and the
cookie that marks a browser as one the operator has logged in from.

The session lives in the cookie, so every replica reads it: a random id, its end, and a MAC
of the admin token (a new token ends every session). A logout records the id as revoked in
the store. A form's CSRF token is that id signed under another salt; a login form's is
bound to a short-lived cookie of its own."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

from receiver.kernel.errors import NotAllowed

SESSION_COOKIE = "relay_console"
LOGIN_COOKIE = "relay_console_login"
BROWSER_COOKIE = "relay_console_browser"
LOGIN_FORM_SECONDS = 3600
# A browser the operator logged in from is known this long after its last login.
KNOWN_BROWSER_SECONDS = 30 * 24 * 3600
_SESSION_SALT = "runway-relay.console.session.v1"
_LOGIN_SALT = "runway-relay.console.login.v1"
_CSRF_SALT = "runway-relay.console.csrf.v1"
_BROWSER_SALT = "runway-relay.console.browser.v1"


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str  # the token every state-changing form of this session carries
    expires_at: float  # (Unix time) no later than this the cookie is refused anyway


def _admin_mark(admin_token: str) -> str:
    # Binds a session to the admin token without carrying anything that reveals it.
    return hmac.new(admin_token.encode(), b"console-session", hashlib.sha256).hexdigest()[:32]


def loaded(serializer: URLSafeTimedSerializer, cookie: str | None, max_age: int) -> Any:
    """What a signed cookie holds, or None when it is absent, forged or older than `max_age`."""
    if not cookie:
        return None
    try:
        return serializer.loads(cookie, max_age=max_age)
    except BadData:
        return None


class Sessions:
    def __init__(self, keys: list[str], admin_token: str, max_age_seconds: int) -> None:
        self.max_age = max_age_seconds
        self._admin_token = admin_token
        self._mark = _admin_mark(admin_token)
        self._session = URLSafeTimedSerializer(keys, salt=_SESSION_SALT)
        self._login = URLSafeTimedSerializer(keys, salt=_LOGIN_SALT)
        self._csrf = URLSafeSerializer(keys, salt=_CSRF_SALT)
        self._browser = URLSafeTimedSerializer(keys, salt=_BROWSER_SALT)

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._admin_token.encode())

    def _marked(self, payload: Any, field: str) -> str | None:
        """`payload[field]`, of a payload issued under this admin token; else None."""
        if not isinstance(payload, dict) or not isinstance(payload.get(field), str):
            return None
        if not hmac.compare_digest(str(payload.get("a", "")), self._mark):
            return None
        return str(payload[field])

    def issue(self) -> str:
        """A fresh session's cookie value (a new id on every login: no fixation), its end in
        it: a revocation is kept until then, whatever `session_seconds` later becomes."""
        payload = {"s": secrets.token_urlsafe(16), "a": self._mark, "e": time.time() + self.max_age}
        return self._session.dumps(payload)

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is absent, forged, expired, or was
        issued under another admin token. Whether it was revoked is the store's to say."""
        payload = loaded(self._session, cookie, self.max_age)
        session_id = self._marked(payload, "s")
        if session_id is None:
            return None
        ends = payload.get("e")
        if not isinstance(ends, (int, float)) or ends <= time.time():
            return None
        return Session(session_id, self.csrf_for(session_id), float(ends))

    def issue_browser(self, known: str | None) -> str:
        """The known-browser cookie, keeping the browser's id when it had one."""
        return self._browser.dumps({"b": known or secrets.token_urlsafe(16), "a": self._mark})

    def read_browser(self, cookie: str | None) -> str | None:
        """The id of the browser a known-browser cookie names, or None."""
        return self._marked(loaded(self._browser, cookie, KNOWN_BROWSER_SECONDS), "b")

    def issue_login(self) -> tuple[str, str]:
        """The login form's cookie, and the nonce in it that the form's CSRF token is bound
        to before anyone is logged in."""
        nonce = secrets.token_urlsafe(16)
        return self._login.dumps(nonce), nonce

    def read_login(self, cookie: str | None) -> str | None:
        nonce = loaded(self._login, cookie, LOGIN_FORM_SECONDS)
        return nonce if isinstance(nonce, str) else None

    def csrf_for(self, bound_to: str) -> str:
        return self._csrf.dumps(bound_to)

    def csrf_valid(self, bound_to: str | None, given: object) -> bool:
        if bound_to is None or not isinstance(given, str) or not given:
            return False
        try:
            value = self._csrf.loads(given)
        except BadData:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, bound_to)


def same_origin(headers: Mapping[str, str], own_origins: set[str]) -> bool:
    """False when the browser says the request comes from another site or origin (another
    port is `same-site`: refused too). A request with neither header is left to the CSRF
    token; `Origin: null` says nothing, as `Referrer-Policy: no-referrer` makes every form's."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    return origin in (None, "null") or origin.rstrip("/").lower() in own_origins


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_form(
    sessions: Sessions,
    bound_to: str | None,
    form: Mapping[str, object],
    headers: Mapping[str, str],
    own_origins: set[str],
) -> None:
    """Refuse (403) a state-changing form that is cross-site or lacks its CSRF token."""
    if not same_origin(headers, own_origins):
        raise NotAllowed("this form was sent from another site")
    if not sessions.csrf_valid(bound_to, form.get("csrf")):
        raise NotAllowed("the form's security token is missing or stale: reload the page")
