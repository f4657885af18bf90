"""How a share link's page looks for the app that made it: its logo and accent colour.

Set by the app's name (today: the name of the API key that made the link) under
`server.share_apps`; the fields are named as an app's own settings would be, so they can
move onto apps unchanged.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The origins whose pages may frame a share link's page (CSP `frame-ancestors`).
FrameOrigin = Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.:\[\]-]+$")]

_IMAGE_DATA = ("data:image/png;", "data:image/jpeg;", "data:image/webp;", "data:image/gif;")
_SVG_DATA = "data:image/svg+xml"
MAX_LOGO_CHARS = 64 * 1024


class ShareLook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The logo at the top of the page: a `data:image/...` URI (served with the page, so the
    # page asks nothing of another site) or an https URL (the viewer's browser fetches it
    # from there; the page's CSP allows that one origin for images).
    share_logo_url: Annotated[str, Field(max_length=MAX_LOGO_CHARS)] = ""
    # The colour of the bar, the buttons and the links: `#rgb` or `#rrggbb`.
    share_accent: Annotated[str, Field(pattern=r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})?$")] = ""

    @field_validator("share_logo_url")
    @classmethod
    def _logo(cls, value: str) -> str:
        if not value or value.startswith(_IMAGE_DATA) or value.startswith(_SVG_DATA):
            return value
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be a data:image/... URI or an https URL")
        if any(c in value for c in " \"'<>\\"):
            raise ValueError("must be a plain URL (no quotes, spaces or angle brackets)")
        return value

    @property
    def logo_origin(self) -> str | None:
        """The origin the page's images may come from for the logo; None: the page's own."""
        parts = urlsplit(self.share_logo_url)
        return f"https://{parts.netloc}" if parts.scheme == "https" else None
