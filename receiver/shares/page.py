"""The page a share link opens, fit for an end user: the app's name, logo and accent, the
prompt when allowed, the state in words, a ticking estimate, then the render with a download
button, or the failure in safe words; a link that does not open gets a page of its own.
Its CSP allows nothing but the page's own script and style (by nonce), the relay, an https
logo and the bucket of presigned copies."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from receiver.config.sections import MediaConfig, ServerConfig, ShareLook
from receiver.shares.links import SharedLink, Why

TEMPLATES = Path(__file__).parents[1] / "console" / "templates"
DEFAULT_ACCENT = "#2563eb"
_NOUNS = {"video": "video", "image": "image", "audio": "sound"}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# (status, heading, what to do) for each way a link stops opening.
CLOSED: dict[Why, tuple[int, str, str]] = {
    "forged": (
        404,
        "This link does not work",
        "It may have been copied incompletely. Ask whoever sent it to send it again.",
    ),
    "expired": (
        410,
        "This link has expired",
        "Share links open for a limited time. Ask whoever sent it for a new one.",
    ),
    "revoked": (
        410,
        "This link was withdrawn",
        "Whoever made it no longer shares it. Ask them for a new one if you still need it.",
    ),
    "gone": (
        410,
        "This render is no longer available",
        "It was kept for a limited time and has been removed.",
    ),
}


def favicon(accent: str) -> str:
    """The page's icon, a play mark in the accent colour, as a data URI: no request."""
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>"
        f"<rect width='32' height='32' rx='7' fill='{accent}'/>"
        "<path d='M12 9v14l11-7z' fill='white'/></svg>"
    )
    return "data:image/svg+xml," + quote(svg, safe="/:=' ")


def look_of(server: ServerConfig, app: str) -> ShareLook:
    """The app's logo and accent; none set (or the admin token's link): the relay's own."""
    return server.share_apps.get(app, ShareLook()) if app else ShareLook()


def render_page(view: dict[str, Any], link: SharedLink, server: ServerConfig, nonce: str) -> str:
    look = look_of(server, link.app)
    accent = look.share_accent or DEFAULT_ACCENT
    noun = _NOUNS.get(str(view["made"]), "render")
    return _env.get_template("share.html").render(
        view=view,
        boot={"view": view, "now": time.time(), "noun": noun},
        app=link.app,
        logo=look.share_logo_url,
        accent=accent,
        favicon=favicon(accent),
        noun=noun,
        prompt=view["prompt"],
        expires_at=link.expires_at,
        nonce=nonce,
    )


def render_closed(why: Why, server: ServerConfig, nonce: str) -> tuple[int, str]:
    status, heading, advice = CLOSED[why]
    page = _env.get_template("share_closed.html").render(
        heading=heading,
        advice=advice,
        why=why,
        accent=DEFAULT_ACCENT,
        favicon=favicon(DEFAULT_ACCENT),
        nonce=nonce,
    )
    return status, page


def page_headers(
    server: ServerConfig, media: MediaConfig, nonce: str, look: ShareLook | None = None
) -> dict[str, str]:
    """The page's headers: its own script and style only (by nonce), requests to the relay
    only (but a logo's https origin, or the bucket of presigned copies), framed by no page
    unless `share_frame_ancestors` lists the origins that may."""
    ancestors = " ".join(server.share_frame_ancestors) or "'none'"
    files = " ".join(filter(None, ("'self'", _bucket_origin(media))))
    images = " ".join(filter(None, (files, "data:", look.logo_origin if look else None)))
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none';"
        f" script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self';"
        f" img-src {images}; media-src {files}; base-uri 'none'; form-action 'none';"
        f" frame-ancestors {ancestors}",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex",
    }


def _bucket_origin(media: MediaConfig) -> str | None:
    """Where presigned copies are fetched from: the page must allow it, or they never load."""
    if not (media.enabled and media.store == "s3" and media.presign):
        return None
    if media.endpoint_url:
        parts = urlsplit(media.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"
    return "https://*.amazonaws.com"
