"""Runway's `runway://` URIs of the relay's own uploads: a create's body with each replaced
by its file as a data URI, so no private address of the relay's ever reaches CometAPI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request

from receiver.kernel.errors import InvalidRequest, NotFound, StoreError
from receiver.keys.guard import caller_of
from receiver.media.api import media_storage_of
from receiver.media.rules import uploads
from receiver.media.storage.local import MediaStore, MediaStoreError, Redirect
from receiver.wiring.dependencies import log_of, media_settings_of, signing_keys_of

UPLOAD_SALT = "runway-relay.runway-upload.v1"
URI_SALT = "runway-relay.runway-uri.v1"


async def signer(request: Request, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(await signing_keys_of(request), salt=salt)


async def media_store(request: Request) -> MediaStore:
    if not (await media_settings_of(request)).enabled:
        raise NotFound("uploads need the relay's media store ([media] enabled), which is off")
    return (await media_storage_of(request)).opened()


async def resolved(request: Request, body: Any) -> Any:
    """The create's body with each `runway://` URI of the relay's replaced by its file as a
    data URI; InvalidRequest for one that is not valid, not the caller's, or expired."""
    if isinstance(body, dict):
        return {key: await resolved(request, value) for key, value in body.items()}
    if isinstance(body, list):
        return [await resolved(request, value) for value in body]
    if not isinstance(body, str) or not body.startswith(uploads.URI_PREFIX):
        return body
    try:
        named = (await signer(request, URI_SALT)).loads(
            body[len(uploads.URI_PREFIX) :], max_age=uploads.EPHEMERAL_SECONDS
        )
    except BadData:
        raise InvalidRequest("a runway:// URI is not valid here, or has expired") from None
    caller = caller_of(request)
    if not caller.sees_all and named["owner"] != caller.owner:
        raise InvalidRequest("a runway:// URI is another API key's upload")
    return uploads.data_uri(named["type"], await _read(request, named["key"]))


async def _read(request: Request, key: str) -> bytes:
    try:
        found = await (await media_store(request)).locate(key, 60)
        if isinstance(found, Path):
            return found.read_bytes()
        if found is not None and not isinstance(found, Redirect):
            return b"".join([chunk async for chunk in found.read(0, found.size)])
    except MediaStoreError as exc:
        (await log_of(request)).warning("uploads.store_unavailable", reason=str(exc))
        raise StoreError("the media store cannot be reached") from None
    if found is None:
        raise InvalidRequest("a runway:// URI names a file that was never uploaded")
    raise InvalidRequest("uploads are not read from a presigned store ([media] presign)")
