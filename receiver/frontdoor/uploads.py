"""Runway's ephemeral uploads, as its SDKs' `uploads.create_ephemeral` makes them: `POST
/runwayml/v1/uploads` names the file and answers where to post it (a signed URL of the
relay's, no bearer key, as the SDK posts it) and the `runway://` URI a create then names.
The file is kept in the relay's media store, under the key that asked for it, for a day
(Runway's ephemeral uploads expire so); a create naming its URI sends CometAPI the file as
a data URI, which the relay keeps once with the task (receiver/tasks/rules/inputs.py), so no
private address of the relay's ever reaches CometAPI.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Depends, Request
from itsdangerous import BadData
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.routing import Route

from receiver.frontdoor.files import UPLOAD_SALT, URI_SALT, media_store, signer
from receiver.frontdoor.tasks import RunwayError, refusal, runway_answers, runway_version
from receiver.kernel.errors import InvalidRequest, NotAllowed, RelayError, StoreError
from receiver.kernel.http.body import read_body, read_json
from receiver.kernel.http.models import Answer
from receiver.kernel.service import Service
from receiver.keys.door import Served, answer, body, caller_of, described, needs, reply
from receiver.media.rules import uploads
from receiver.media.storage.local import MediaStoreError

_FOLDER = "runway-uploads"  # the media store's folder for them (keys are `<folder>/<name>`)


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
    summary="Start an ephemeral upload (Runway's shape)",
    description=described(
        "Runway's `POST /v1/uploads`, as `uploads.create_ephemeral` calls it: answers"
        " where to post the file (a signed URL of the relay's, an hour long) and the"
        " `runway://` URI a create names in place of a URL (a day long; the key's own)."
        f" Files: {', '.join(uploads.TYPES)}, up to {uploads.MAX_UPLOAD_BYTES} bytes,"
        " checked by their first bytes too. Needs `[media]` on.",
        "tasks:submit",
    ),
    dependencies=[needs("tasks:submit")],
    responses=runway_answers(
        "tasks:submit",
        {
            200: answer("Where to post the file.", UploadStarted),
            400: answer("Not a file type Runway takes.", RunwayError),
            404: answer("The relay's media store is off.", RunwayError),
        },
    ),
    openapi_extra=body(UploadAsked, "Runway_upload", "The file's name."),
)
async def start(request: Request, service: Served) -> Response:
    media_store(request, service)
    timeout = service.config.settings.server.body_timeout_seconds
    try:
        asked = UploadAsked.model_validate(await read_json(request, 4096, timeout))
    except ValueError:
        raise InvalidRequest('body must be {"filename": "<name>", "type": "ephemeral"}') from None
    content_type = uploads.type_of(asked.filename)
    if content_type is None:
        known = ", ".join(uploads.TYPES)
        raise InvalidRequest(f"filename: Runway takes {known} files")
    suffix = asked.filename[asked.filename.rfind(".") :].lower()
    key = f"{_FOLDER}/{uuid.uuid4().hex}{suffix}"
    named = {"key": key, "owner": caller_of(request).owner, "type": content_type}
    token = signer(service, UPLOAD_SALT).dumps(named)
    answer = {
        "runwayUri": uploads.URI_PREFIX + signer(service, URI_SALT).dumps(named),
        "uploadUrl": f"{service.config.public_url}/runwayml/uploads/{token}",
        "fields": {},
    }
    return reply(UploadStarted, answer)


async def _receive(request: Request) -> Response:
    """The file itself, at its signed URL: checked for size and type, then kept."""
    service: Service = request.app.state.service
    try:
        named = signer(service, UPLOAD_SALT).loads(
            request.path_params["token"], max_age=uploads.UPLOAD_WINDOW_SECONDS
        )
    except BadData:
        return refusal(NotAllowed("the upload URL is not valid or has expired"))
    try:
        kept_in = media_store(request, service)
        timeout = service.config.settings.server.body_timeout_seconds
        body = await read_body(request, uploads.MAX_UPLOAD_BYTES + 65536, timeout)
        data = uploads.form_file(request.headers.get("content-type", ""), body)
        if data is None:
            raise InvalidRequest("post the file as multipart/form-data, in a field named file")
        if len(data) > uploads.MAX_UPLOAD_BYTES:
            raise InvalidRequest(f"the file is over {uploads.MAX_UPLOAD_BYTES} bytes")
        if not uploads.looks_like(named["type"], data[:16]):
            raise InvalidRequest(f"the file is not a {named['type']} file, as its name says")
        await kept_in.put(named["key"], _once(data), named["type"])
    except MediaStoreError as exc:
        service.log.warning("uploads.store_unavailable", reason=str(exc))
        return refusal(StoreError("the media store cannot be reached"))
    except RelayError as exc:
        return refusal(exc)
    return Response(status_code=204)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


ROUTES = (Route("/runwayml/uploads/{token}", _receive, methods=["POST"]),)
