"""`GET /media/{token}`: a mirrored file at its signed URL, with Range; from S3 with
`presign`, a redirect (307) to a presigned URL living as long as the token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from receiver.kernel.errors import NotAllowed, NotFound, StoreError
from receiver.kernel.http.models import ErrorAnswer
from receiver.kernel.http.openapi import Token, answer, described
from receiver.lifecycle.rules.task import content_type_of
from receiver.media.storage.local import (
    MediaStorage,
    MediaStoreError,
    Redirect,
    byte_range,
)
from receiver.wiring.dependencies import Links, Logged, on_app

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# A route's media store: the process's one, put on the application at start-up.
media_storage_of = on_app("media_storage", MediaStorage)
Storage = Annotated[MediaStorage, Depends(media_storage_of)]
Download = Annotated[
    str | None,
    Query(
        # Described so, but not refused: a longer name is cut to 200 (`_attachment`).
        json_schema_extra={"maxLength": 200},
        description="Answer it as an attachment (`Content-Disposition`) of this file name;"
        " characters other than letters, digits, `.`, `_` and `-` become `_`.",
    ),
]


def _attachment(wanted: str | None) -> dict[str, str]:
    """The header that makes a browser save the file, when `?download=` names it."""
    if not wanted:
        return {}
    name = _UNSAFE_IN_NAME.sub("_", wanted)[:200].strip("._") or "download"
    return {"Content-Disposition": f'attachment; filename="{name}"'}


async def media(
    request: Request,
    log: Logged,
    links: Links,
    storage: Storage,
    token: Token,
    download: Download = None,
) -> Response:
    link = links.read(token)
    if link is None:
        raise NotAllowed("the media link is not valid or has expired")
    key, valid_for = link
    try:
        found = await storage.opened().locate(key, valid_for)
    except ValueError:
        raise NotAllowed("the media link is not valid") from None
    except MediaStoreError as exc:
        log.warning("media.store_unavailable", reason=str(exc))
        raise StoreError("the media store cannot be reached") from None
    if found is None:
        raise NotFound("the file is no longer kept")
    if isinstance(found, Path):
        # The type the copy was stored as, not the platform's guess from its suffix.
        return FileResponse(
            found, media_type=content_type_of(found.suffix), headers=_attachment(download)
        )
    if isinstance(found, Redirect):
        return RedirectResponse(found.url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": found.content_type,
        "ETag": found.etag,
        **_attachment(download),
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


def _headers(described: dict[str, str]) -> dict[str, Any]:
    return {n: {"description": t, "schema": {"type": "string"}} for n, t in described.items()}


def _file(description: str, headers: dict[str, str]) -> dict[str, Any]:
    content = {t: {"schema": _BYTES} for t in ("video/*", "image/*")}
    return answer(description, content=content, headers=_headers(headers))


_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: _file("The file.", _FILE_HEADERS),
    206: _file(
        "The range asked for.",
        {**_FILE_HEADERS, "Content-Range": "Which bytes, of how many."},
    ),
    307: answer("Fetch it from here.", headers=_headers({"Location": "A presigned URL."})),
    403: answer("The token is forged, tampered with or expired.", ErrorAnswer),
    404: answer("The file is no longer kept.", ErrorAnswer),
    416: answer(
        "The range lies past the end.", headers=_headers({"Content-Range": "`bytes */SIZE`."})
    ),
    503: answer("The media store cannot be reached.", ErrorAnswer),
}
_DESCRIPTION = described(
    "A copy of a finished render or its poster, at the signed URL the task's event"
    " carries (`media.files[].url`). Range requests give 206; from S3 with presigned"
    " reads, a 307 to the object.",
    auth="signed",
)
# HEAD: the GET's headers, no body.
_HEAD_ANSWERS = {
    status: {k: v for k, v in spec.items() if k in ("description", "headers")}
    for status, spec in _ANSWERS.items()
}
router = APIRouter(tags=["media"], default_response_class=Response)
for _method, _responses in (("GET", _ANSWERS), ("HEAD", _HEAD_ANSWERS)):
    router.add_api_route(
        "/media/{token}",
        media,
        methods=[_method],
        summary="A mirrored file",
        description=_DESCRIPTION,
        responses=_responses,
    )
