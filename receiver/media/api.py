"""`GET /media/{token}`: a mirrored file at its signed URL.

Content-Type, ETag, Content-Length and Range from a local directory or S3; for S3 with
`presign`, a redirect (307) to a presigned URL living as long as the token. `?download=NAME`
answers it as an attachment of that name (a share page's Download button), so a browser
saves it rather than plays it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from receiver.app.api.models import ErrorAnswer, TokenParams
from receiver.app.api.openapi import Operation, Reply
from receiver.kernel.errors import NotAllowed, NotFound, StoreError
from receiver.kernel.events.rules.kinds import content_type_of
from receiver.kernel.service import Service
from receiver.media.storage.links import media_links_of
from receiver.media.storage.local import (
    MediaStore,
    MediaStoreError,
    Redirect,
    byte_range,
    open_media_store,
)

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class MediaParams(TokenParams):
    download: str | None = Field(
        None,
        max_length=200,
        description="Answer it as an attachment (`Content-Disposition`) of this file name;"
        " characters other than letters, digits, `.`, `_` and `-` become `_`.",
    )


def _attachment(request: Request) -> dict[str, str]:
    """The header that makes a browser save the file, when `?download=` names it."""
    wanted = request.query_params.get("download")
    if not wanted:
        return {}
    name = _UNSAFE_IN_NAME.sub("_", wanted)[:200].strip("._") or "download"
    return {"Content-Disposition": f'attachment; filename="{name}"'}


async def media(request: Request) -> Response:
    service: Service = request.app.state.service
    link = media_links_of(service).read(request.path_params["token"])
    if link is None:
        raise NotAllowed("the media link is not valid or has expired")
    key, valid_for = link
    storage: MediaStore | None = getattr(request.app.state, "media_store", None)
    if storage is None:
        storage = request.app.state.media_store = open_media_store(service.config.settings.media)
    try:
        found = await storage.locate(key, valid_for)
    except ValueError:
        raise NotAllowed("the media link is not valid") from None
    except MediaStoreError as exc:
        service.log.warning("media.store_unavailable", reason=str(exc))
        raise StoreError("the media store cannot be reached") from None
    if found is None:
        raise NotFound("the file is no longer kept")
    if isinstance(found, Path):
        # The type the copy was stored as, not the platform's guess from its suffix.
        return FileResponse(
            found, media_type=content_type_of(found.suffix), headers=_attachment(request)
        )
    if isinstance(found, Redirect):
        return RedirectResponse(found.url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": found.content_type,
        "ETag": found.etag,
        **_attachment(request),
    }
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != found.etag:
        wanted = None  # the copy changed since the client's first part: send it whole
    try:
        span = byte_range(wanted, found.size)
    except ValueError:
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{found.size}"}
        )
    start, end = span or (0, found.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(found.read(start, end), status_code=status, headers=headers)


_BYTES = {"type": "string", "contentMediaType": "application/octet-stream"}
_FILE_HEADERS = {
    "ETag": "The file's hash; send it back in If-Range.",
    "Accept-Ranges": "`bytes`.",
    "Content-Length": "The bytes in this answer.",
}

# Its place in the API's route table (receiver/app/api/routes.py) and OpenAPI document.
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/media/{token}",
        ("GET", "HEAD"),
        media,
        "media",
        "A mirrored file",
        "A copy of a finished render or its poster, at the signed URL the task's event"
        " carries (`media.files[].url`). Range requests give 206; from S3 with presigned"
        " reads, a 307 to the object.",
        "signed",
        (
            Reply(
                200,
                "The file.",
                media_types=("video/*", "image/*"),
                schema=_BYTES,
                headers=_FILE_HEADERS,
            ),
            Reply(
                206,
                "The range asked for.",
                media_types=("video/*", "image/*"),
                schema=_BYTES,
                headers={**_FILE_HEADERS, "Content-Range": "Which bytes, of how many."},
            ),
            Reply(307, "Fetch it from here.", headers={"Location": "A presigned URL."}),
            Reply(403, "The token is forged, tampered with or expired.", ErrorAnswer),
            Reply(404, "The file is no longer kept.", ErrorAnswer),
            Reply(
                416,
                "The range lies past the end.",
                headers={"Content-Range": "`bytes */SIZE`."},
            ),
            Reply(503, "The media store cannot be reached.", ErrorAnswer),
        ),
        params=MediaParams,
    ),
)
