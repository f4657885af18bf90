"""`POST /v1/portal-links`: a link that opens an app's portal (receiver/portal/) once,
within a short life. An app's key with the `downstreams` scope makes one for its own app;
the admin names the app. Its route and the models it reads and answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import Response

from receiver.apps import portal
from receiver.kernel.errors import MalformedRequest
from receiver.kernel.http.body import load_json, read_body
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import answer, body, reply
from receiver.keys.api import checked
from receiver.keys.guard import Keyring, caller_of, operation
from receiver.wiring.dependencies import ServerSection, on_app

MAX_BODY_BYTES = 4 * 1024
_ERR = ErrorAnswer


class NewPortalLink(Answer):
    app: str | None = Field(
        None,
        max_length=64,
        description="The app whose portal it opens: required with the admin token (or an"
        " admin-scoped key naming another app); an app's key may leave it out, or name its own.",
    )
    ttl_seconds: int = Field(
        portal.DEFAULT_TTL_SECONDS,
        strict=True,
        ge=portal.MIN_TTL_SECONDS,
        le=portal.MAX_TTL_SECONDS,
        description="Seconds the link may be opened in: 900 (15 minutes) unless given; 10 to"
        " 86,400 (a day). Once opened, the session lasts `console.portal_session_seconds`.",
    )


class PortalLinkMade(Answer):
    url: str = Field(description="Opens the portal once; a second opening is refused.")
    expires_at: float = Field(description="Unix time after which it no longer opens.")


def _wanted(raw: bytes) -> NewPortalLink:
    if not raw.strip():
        raise MalformedRequest("body must be a JSON object: `{}` for a link to the key's app")
    payload: Any = load_json(raw)
    if not isinstance(payload, dict):
        raise MalformedRequest("body must be a JSON object")
    return checked(NewPortalLink, payload)


router = APIRouter(tags=["apps"])
# A route's maker of portal links (receiver/app/parts.py).
Linking = Annotated[portal.PortalLinks, Depends(on_app("portal_links", portal.PortalLinks))]


@router.post(
    "/v1/portal-links",
    **operation(
        "downstreams",
        "A link to an app's portal",
        "A URL that opens the app's portal (its endpoints, deliveries and tasks) in a"
        " browser: once, before `expires_at`, while a key the app had when the link was"
        " made is live. Opening it starts a session for that app alone; revoking the"
        " app's last such key, or deleting the app, ends its sessions on every replica.",
        {
            201: answer("Made.", PortalLinkMade),
            400: answer("The body is not a JSON object.", _ERR),
            404: answer("No live app of that name (or another app's).", _ERR),
            409: answer("The app has no live key: its portal would not open.", _ERR),
            413: answer("The body is over 4 KiB.", _ERR),
            422: answer("A bad field (`ttl_seconds` out of range, no `app`).", _ERR),
        },
        params=False,
    ),
    status_code=201,
    openapi_extra=body(NewPortalLink, "NewPortalLink", "The app (admin) and the link's life."),
)
async def create_portal_link(
    request: Request, links: Linking, server: ServerSection, keys: Keyring
) -> Response:
    wanted = _wanted(await read_body(request, MAX_BODY_BYTES, server.body_timeout_seconds))
    link = await links.make(keys, caller_of(request), wanted.app, wanted.ttl_seconds)
    return reply(PortalLinkMade, {"url": link.url, "expires_at": link.expires_at}, 201)
