"""How CometAPI's callback route is described in the OpenAPI document: the route itself is a
bare ASGI app (route.py), never reached through FastAPI."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from receiver.callbacks.route import PATH
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import Token, answer, body, described


class CallbackAck(Answer):
    """Says nothing about the task's state: the URL may be in the wrong hands."""

    ok: Literal[True]
    task_id: str
    duplicate: bool = Field(description="The same bytes came before; nothing was stored.")


# What CometAPI posts, as loosely as the parser reads it: field types drift in the wild.
class FlatCallback(BaseModel):
    """CometAPI's documented callback: the task's fields at the top level (no `data`)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "anyOf": [{"required": [key]} for key in ("task_id", "status", "state")],
            "not": {"required": ["data"]},
        },
    )

    task_id: Any = Field(None, description="CometAPI's task id.")
    status: Any = Field(None, description='A number in a string: "3" with a video is done.')
    state: Any = None
    video_url: Any = None


class EnvelopeCallback(BaseModel):
    """The reverse format's `<code, msg, data>` envelope around the same fields."""

    model_config = ConfigDict(extra="allow")

    code: Any = Field(None, examples=[200, "success"])
    msg: Any = None
    data: dict[str, Any] = Field(description="The task's fields (also read JSON-encoded).")


CallbackBody = FlatCallback | EnvelopeCallback


_ERR = ErrorAnswer
described_only = APIRouter(tags=["inbound"])


@described_only.post(
    PATH,
    summary="CometAPI's callback",
    description=described(
        "The `callback_url` the relay gives CometAPI with a `video2video` task. The body is"
        " read tolerantly: CometAPI's flat body or the `<code, msg, data>` envelope. It is"
        " kept as a claim and makes the relay ask CometAPI about the task; the answer says"
        " nothing about the task's state.",
        auth="signed",
    ),
    responses={
        200: answer("Stored (or an exact repeat).", CallbackAck),
        400: answer("Not JSON, or neither shape; `detail` says why.", _ERR),
        403: answer("The token is forged, tampered with, expired, or another task's.", _ERR),
        404: answer("The task is not known here.", _ERR),
        408: answer("The body did not arrive in time.", _ERR),
        413: answer("The body is over callbacks.max_body_bytes.", _ERR),
        503: answer("Not stored; send it again.", _ERR),
    },
    openapi_extra=body(
        CallbackBody,
        "CallbackBody",
        "Loosely: the parser reads more than this, and every body is kept as sent.",
    ),
)
def callback(token: Token) -> None:
    """Its parameters, for the document; receiver/callbacks/route.py answers it."""
