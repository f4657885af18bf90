"""Runway's ephemeral uploads, as its SDKs' `uploads.create_ephemeral` makes them: the
start answers a signed upload URL (no bearer key, as the SDK posts it) and the `runway://`
URI a create names. An upload URL takes one file, on any replica (the store keeps which
have), under its key's quota. The form is parsed under bounds the SDK's never meets, so a
form of 100,000 parts costs no more than ten.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from itsdangerous import BadData
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Route

from receiver.kernel.errors import (
    InvalidRequest,
    MalformedRequest,
    NotAllowed,
    RelayError,
    StoreError,
)
from receiver.kernel.http.body import read_body, read_json
from receiver.kernel.http.models import Answer
from receiver.kernel.http.openapi import answer, body, reply
from receiver.keys.guard import caller_of, operation
from receiver.media import transactions
from receiver.media.rules import uploads
from receiver.media.storage.local import MediaStore, MediaStoreError
from receiver.runway_api.files import UPLOAD_SALT, URI_SALT, media_store, signer
from receiver.runway_api.tasks import RunwayError, refusal, runway_version
from receiver.wiring.dependencies import (
    PublicUrl,
    ServerSection,
    log_of,
    media_settings_of,
    server_settings_of,
    store_of,
)

_FOLDER = "runway-uploads"  # the media store's folder for them (keys are `<folder>/<name>`)
_CHUNK_BYTES = 1024 * 1024  # the body goes to the form's parser, the file to the store


class UploadAsked(BaseModel):
    """What the SDK sends first."""

    model_config = ConfigDict(extra="ignore")

    filename: str = Field(min_length=1, max_length=255, pattern=uploads.FILENAME_PATTERN)
    type: Literal["ephemeral"] = "ephemeral"


class UploadStarted(Answer):
    runwayUri: str = Field(description="Name it in a create, in place of a URL (a day long).")
    uploadUrl: str = Field(description="Post the file here as `multipart/form-data` (`file`).")
    fields: dict[str, str] = Field(description="Form fields to post before the file: none.")


router = APIRouter(tags=["runwayml"], dependencies=[Depends(runway_version)])


@router.post(
    "/runwayml/v1/uploads",
    **operation(
        "tasks:submit",
        "Start an ephemeral upload (Runway's shape)",
        "Runway's `POST /v1/uploads`, as `uploads.create_ephemeral` calls it: answers"
        " where to post the file (a signed URL of the relay's, an hour long) and the"
        " `runway://` URI a create names in place of a URL (a day long; the key's own)."
        f" Files: {', '.join(uploads.TYPES)}, up to {uploads.MAX_UPLOAD_BYTES} bytes,"
        " checked by their first bytes too; one file a URL, and each key up to"
        " `[media] upload_bytes_per_hour` bytes in any hour. Needs `[media]` on.",
        {
            200: answer("Where to post the file.", UploadStarted),
            400: answer("Not a file type Runway takes.", RunwayError),
            404: answer("The relay's media store is off.", RunwayError),
        },
        refusal=RunwayError,
    ),
    openapi_extra=body(UploadAsked, "Runway_upload", "The file's name."),
)
async def start(request: Request, server: ServerSection, public_url: PublicUrl) -> Response:
    await media_store(request)
    try:
        asked = UploadAsked.model_validate(
            await read_json(request, 4096, server.body_timeout_seconds)
        )
    except ValueError:
        raise InvalidRequest('body must be {"filename": "<name>", "type": "ephemeral"}') from None
    content_type = uploads.type_of(asked.filename)
    if content_type is None:
        known = ", ".join(uploads.TYPES)
        raise InvalidRequest(f"filename: Runway takes {known} files")
    suffix = asked.filename[asked.filename.rfind(".") :].lower()
    key = f"{_FOLDER}/{uuid.uuid4().hex}{suffix}"
    caller = caller_of(request)
    named = {
        "key": key,
        "owner": caller.owner,
        "type": content_type,
        "uploader": caller.key_id or "admin",  # whose quota the file counts in
    }
    token = (await signer(request, UPLOAD_SALT)).dumps(named)
    answer = {
        "runwayUri": uploads.URI_PREFIX + (await signer(request, URI_SALT)).dumps(named),
        "uploadUrl": f"{public_url}/runwayml/uploads/{token}",
        "fields": {},
    }
    return reply(UploadStarted, answer)


async def _receive(request: Request) -> Response:
    """The file itself, at its signed URL: once, under its key's quota, checked for size
    and type, then kept. A bare route: it asks the application for its parts."""
    store = await store_of(request)
    try:
        named = (await signer(request, UPLOAD_SALT)).loads(
            request.path_params["token"], max_age=uploads.UPLOAD_WINDOW_SECONDS
        )
    except BadData:
        return refusal(NotAllowed("the upload URL is not valid or has expired"))
    quota = (await media_settings_of(request)).upload_bytes_per_hour
    # Old URLs (signed before keys had quotas) count in their app's.
    uploader = str(named.get("uploader", named["owner"]))
    try:
        kept_in = await media_store(request)
        # Refused before a byte of the body is read (a spent URL, a quota with no room), at
        # the fewest bytes the file can have in a body of this Content-Length.
        declared = request.headers.get("content-length", "")
        least = max(1, int(declared) - uploads.MAX_FORM_OVERHEAD) if declared.isdigit() else 1
        early = transactions.Upload(named["key"], uploader, least)
        refused = await transactions.upload_refusal(store, early, quota)
        if refused is not None:
            raise refused
        timeout = (await server_settings_of(request)).body_timeout_seconds
        limit = uploads.MAX_UPLOAD_BYTES + uploads.MAX_FORM_OVERHEAD
        data = await form_file(request.headers, await read_body(request, limit, timeout))
        if len(data) > uploads.MAX_UPLOAD_BYTES:
            raise InvalidRequest(f"the file is over {uploads.MAX_UPLOAD_BYTES} bytes")
        if not uploads.looks_like(named["type"], data[:16]):
            raise InvalidRequest(f"the file is not a {named['type']} file, as its name says")
        upload = transactions.Upload(named["key"], uploader, len(data))
        await transactions.take_upload(store, upload, quota)
        await _keep(request, kept_in, named, data)
    except RelayError as exc:
        return refusal(exc)
    except ClientDisconnect:
        return refusal(MalformedRequest("the client went away before its file was in"))
    return Response(status_code=204)


async def form_file(headers: Headers, body: bytes) -> bytes:
    """The bytes of the form's `file` part, by Starlette's parser under the form's bounds;
    MalformedRequest for a body that is no such form, or holds more than it may."""
    content_type = headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise MalformedRequest("post the file as multipart/form-data, in a field named file")
    parser = MultiPartParser(
        headers,
        _chunks(body),
        max_files=uploads.MAX_FORM_FILES,
        max_fields=uploads.MAX_FORM_FIELDS,
        max_part_size=uploads.MAX_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedRequest(
            f"the upload form is refused: {exc.message} (a form of the file and up to"
            f" {uploads.MAX_FORM_FIELDS} fields of {uploads.MAX_FIELD_BYTES} bytes at most)"
        ) from None
    try:
        file: Any = form.get("file")
        if not isinstance(file, UploadFile):
            raise MalformedRequest(
                "post the file as multipart/form-data, in a field named file (with a filename)"
            )
        return await file.read()
    finally:
        await form.close()


async def _chunks(body: bytes) -> AsyncGenerator[bytes, None]:
    view = memoryview(body)
    for start in range(0, len(body), _CHUNK_BYTES):
        yield bytes(view[start : start + _CHUNK_BYTES])


async def _keep(request: Request, kept_in: MediaStore, named: Any, data: bytes) -> None:
    """The file kept; when the media store fails, the URL is given back, so the client may
    post it again."""
    try:
        await kept_in.put(named["key"], _chunks(data), named["type"])
    except MediaStoreError as exc:
        await transactions.forget_upload(await store_of(request), named["key"])
        (await log_of(request)).warning("uploads.store_unavailable", reason=str(exc))
        raise StoreError("the media store cannot be reached") from None


ROUTES = (Route("/runwayml/uploads/{token}", _receive, methods=["POST"]),)
