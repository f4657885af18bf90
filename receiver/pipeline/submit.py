"""Submitting tasks: validate against CometAPI's published limits, then store the task in
the submit queue; and cancelling them.

The task row is committed before anything leaves, so a task that CometAPI accepted is
never unknown to us; the submit worker sends it when CometAPI has room.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from receiver.adapters.comet.client import REVERSE_KIND
from receiver.adapters.guard import check_api_url
from receiver.config.sections import CHANNEL
from receiver.domain.observation import Observation
from receiver.domain.states import TERMINAL_STATES, State
from receiver.errors import Conflict, InvalidRequest, NotFound
from receiver.persist import NewTask, Task
from receiver.pipeline.service import Service, Work

_RATIO = r"^[1-9][0-9]{1,4}:[1-9][0-9]{1,4}$"
# CometAPI's published seed ranges, per official-format route.
_MAX_SEED = {"video_to_video": 4294967295, "image_to_video": 999999999}


# A URL CometAPI can fetch: a host name or address, then an optional port and the rest
# without spaces. One pattern is both the check and what the OpenAPI document says.
_MIN_URL = 12
_HOST_AND_REST = r"[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?([/?#][^\x00-\x20]*)?$"
_DATA_URI = r"data:[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+;base64,"


def _url_pattern(schemes: tuple[str, ...], allow_data: bool = False) -> str:
    url = f"({'|'.join(schemes)})://{_HOST_AND_REST}"
    return f"^({url}|{_DATA_URI})" if allow_data else f"^{url}"


def _check_url(value: str, schemes: tuple[str, ...], allow_data: bool = False) -> str:
    if allow_data and value.startswith("data:"):
        if not re.match(_DATA_URI, value):
            raise ValueError("data URI must be base64 (data:<type>/<subtype>;base64,...)")
        return value
    if not re.match(_url_pattern(schemes), value) or len(value) < _MIN_URL:
        allowed = " or ".join(schemes) + (" URL or a base64 data URI" if allow_data else " URL")
        raise ValueError(f"must be an {allowed}")
    return value


def _url_schema(schemes: tuple[str, ...], allow_data: bool = False) -> dict[str, Any]:
    """What `_check_url` accepts, as the OpenAPI document says it."""
    return {"pattern": _url_pattern(schemes, allow_data), "minLength": _MIN_URL}


# A required text needs a character that is not white space as Python's str.strip counts it,
# which is how CometAPI's side reads it; pydantic's own stripping keeps \x1c-\x1f. The
# set is spelt out for the document, since regex engines disagree about `\S`.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NotBlank = Annotated[
    str,
    AfterValidator(_not_blank),
    Field(min_length=1, json_schema_extra={"pattern": f"[^{SPACE}]"}),
]


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A JSON integer: 425.0 is one too (as JSON Schema counts), but "425" and true are not.
_WHOLE = BeforeValidator(_whole)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_OPTIONS: dict[str, Any] = {
    "properties": {
        "structure_transformation": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "flip": {"type": "boolean"},
    }
}


MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 16 * 1024
ROUTING_FIELDS = ("webhook", "webhook_events", "metadata", "channels")


class Routing(_Request):
    """Where the task's events go besides the downstreams, and the caller's own data: kept by
    the relay, never sent to CometAPI."""

    webhook: Annotated[
        str | None, Field(max_length=2048, json_schema_extra=_url_schema(("https", "http")))
    ] = None
    webhook_events: Annotated[list[State], Field(min_length=1, max_length=5)] | None = None
    metadata: Annotated[dict[str, Any], Field(max_length=MAX_METADATA_KEYS)] | None = None
    channels: Annotated[list[Annotated[str, Field(pattern=CHANNEL)]], Field(max_length=20)] = []

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, ("https", "http"))

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            size = len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode())
        except (ValueError, RecursionError):
            raise ValueError("must be plain JSON (no NaN, Infinity or bad text)") from None
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"is {size} bytes as JSON, over {MAX_METADATA_BYTES}")
        return value

    def routing(self) -> dict[str, Any] | None:
        """What the relay keeps of these fields (None: nothing asked)."""
        kept: dict[str, Any] = {}
        if self.webhook is not None:
            kept["webhook"] = self.webhook
            kept["webhook_events"] = sorted(self.webhook_events or TERMINAL_STATES)
        if self.metadata is not None:
            kept["metadata"] = self.metadata
        if self.channels:
            kept["channels"] = sorted(set(self.channels))
        return kept or None


class Video2VideoRequest(Routing):
    """Reverse format `POST /runway/pro/video2video`; the relay adds `callback_url` itself."""

    kind: Literal["video2video"]
    video: Annotated[str, Field(max_length=4096, json_schema_extra=_url_schema(("https", "http")))]
    prompt: Annotated[NotBlank, Field(max_length=2000)]
    model: Annotated[NotBlank, Field(max_length=64)] = "gen4"
    options: Annotated[dict[str, Any], Field(json_schema_extra=_OPTIONS)] = {}

    @field_validator("video")
    @classmethod
    def _video(cls, value: str) -> str:
        return _check_url(value, ("https", "http"))

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, Any]) -> dict[str, Any]:
        strength = value.get("structure_transformation")
        if strength is not None and (
            isinstance(strength, bool)
            or not isinstance(strength, int | float)
            or not 0 <= strength <= 1
        ):
            raise ValueError("structure_transformation must be a number from 0 to 1")
        if "flip" in value and not isinstance(value["flip"], bool):
            raise ValueError("flip must be true or false")
        try:
            # Sent on as JSON: NaN, Infinity and lone surrogates would fail in the client.
            json.dumps(value, allow_nan=False, ensure_ascii=False).encode()
        except (ValueError, RecursionError):
            raise ValueError("options must be plain JSON (no NaN, Infinity or bad text)") from None
        return value


class Reference(_Request):
    type: Literal["image"] = "image"
    uri: Annotated[str, Field(max_length=4096, json_schema_extra=_url_schema(("https",)))]

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return _check_url(value, ("https",))


class ContentModeration(_Request):
    publicFigureThreshold: Literal["auto", "low"] = "auto"


class VideoToVideoFields(_Request):
    """Official format `POST /runwayml/v1/video_to_video` (polled: no callback): Runway's
    own fields, as its SDK sends them to the relay's front door too."""

    videoUri: Annotated[
        str,
        Field(max_length=96 * 1024 * 1024, json_schema_extra=_url_schema(("https",), True)),
    ]
    promptText: Annotated[NotBlank, Field(max_length=1000)]
    # Unset: a random seed, recorded on the task (a fixed default would make every
    # unseeded render of one prompt come out the same).
    seed: (
        Annotated[int, Field(ge=0, le=_MAX_SEED["video_to_video"], strict=True), _WHOLE] | None
    ) = None
    # Which models and ratios exist is CometAPI's to judge (Runway adds them often): an
    # unknown one is passed on, and CometAPI's refusal fails the task.
    model: Annotated[NotBlank, Field(max_length=64)] = "gen4_aleph"
    references: Annotated[list[Reference], Field(max_length=8)] = []
    ratio: Annotated[str, Field(pattern=_RATIO)] = "1280:720"
    contentModeration: ContentModeration = ContentModeration()

    @field_validator("videoUri")
    @classmethod
    def _video(cls, value: str) -> str:
        return _check_url(value, ("https",), allow_data=True)


class ImageToVideoFields(_Request):
    """Official format `POST /runwayml/v1/image_to_video` (polled: no callback)."""

    promptImage: Annotated[
        str, Field(max_length=4096, json_schema_extra=_url_schema(("https", "http")))
    ]
    model: Annotated[NotBlank, Field(max_length=64)] = "gen3a_turbo"
    promptText: Annotated[str, Field(max_length=512)] | None = None
    seed: (
        Annotated[int, Field(ge=0, le=_MAX_SEED["image_to_video"], strict=True), _WHOLE] | None
    ) = None
    watermark: Annotated[bool, Field(strict=True)] = False
    duration: Annotated[int, Field(ge=1, le=60, strict=True), _WHOLE] = 5
    ratio: Annotated[str, Field(pattern=_RATIO)] = "1280:768"
    contentModeration: ContentModeration | None = None

    @field_validator("promptImage")
    @classmethod
    def _image(cls, value: str) -> str:
        return _check_url(value, ("https", "http"))


class VideoToVideoRequest(VideoToVideoFields, Routing):
    kind: Literal["video_to_video"]


class ImageToVideoRequest(ImageToVideoFields, Routing):
    kind: Literal["image_to_video"]


TaskRequest = Annotated[
    Video2VideoRequest | VideoToVideoRequest | ImageToVideoRequest, Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[TaskRequest] = TypeAdapter(TaskRequest)


def validate(payload: Any) -> Video2VideoRequest | VideoToVideoRequest | ImageToVideoRequest:
    if not isinstance(payload, dict):
        raise InvalidRequest("body must be a JSON object")
    if "callback_url" in payload:
        raise InvalidRequest(
            "callback_url: leave it out; the relay sets its own signed callback URL on every"
            " task, which is how it knows which task a callback is about"
        )
    if payload.get("kind") not in ("video2video", "video_to_video", "image_to_video"):
        raise InvalidRequest("kind: must be one of video2video, video_to_video, image_to_video")
    try:
        return _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"][1:]) or "body"
            problems.append(f"{where}: {err['msg']}")
        raise InvalidRequest("; ".join(problems)) from None


@dataclass(frozen=True)
class Submission:
    task: Task
    created: bool  # False: an earlier request with the same idempotency key
    callback_url: str | None = None


def request_hash(kind: str, fields: dict[str, Any]) -> str:
    """What an Idempotency-Key's request must match: the request as validated (defaults
    filled in), before the relay picks a random seed."""
    canonical = json.dumps({"kind": kind, **fields}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit(service: Service, payload: Any, idempotency_key: str | None) -> Submission:
    """Validate and store the task, waiting in the submit queue; the submit worker sends
    it (receiver/pipeline/queue.py). Nothing leaves here, so CometAPI's limits never reach
    the caller."""
    request = validate(payload)
    routing = request.routing()
    if routing and "webhook" in routing:
        check_webhook(service, routing["webhook"])
    fields = request.model_dump(exclude={"kind", *ROUTING_FIELDS}, exclude_none=True)
    kind = request.kind
    asked = {**fields, **({"routing": routing} if routing else {})}
    fingerprint = request_hash(kind, asked) if idempotency_key else None
    if kind in _MAX_SEED and "seed" not in fields:
        fields["seed"] = secrets.randbelow(_MAX_SEED[kind] + 1)
    task, created = await service.store.create_task(
        NewTask(
            kind, fields, idempotency_key=idempotency_key, request_hash=fingerprint, routing=routing
        )
    )
    log = service.log.bind(task_id=task.id, kind=kind)
    callback_url = service.callback_url(task.id) if kind == REVERSE_KIND else None
    if not created:
        log.info("submit.idempotent_replay")
        return Submission(task, False, callback_url)
    service.wake(Work.SUBMITS)
    log.info("submit.queued")
    return Submission(task, True, callback_url)


def check_webhook(service: Service, url: str) -> None:
    """A task's webhook came through the API: it may not name a private, loopback,
    link-local or metadata address (checked again after DNS, when the delivery connects),
    and it is signed, so the secret must be there."""
    if service.config.secrets.task_webhook_secret is None:
        env = service.config.settings.delivery.task_webhook_secret_env
        raise InvalidRequest(f"webhook: task webhooks are off here ({env} is not set)")
    if not service.config.settings.delivery.allow_private_networks:
        check_api_url(url, "webhook")


async def cancel(service: Service, task_id: str) -> Task:
    """Cancel a task: here and at once while it waits in the submit queue (it never reaches
    CometAPI); else upstream, then record `cancelled`.

    Only the official format has a cancel route; CometAPI documents none for the reverse
    format. The state changes only once CometAPI has accepted the cancel.
    """
    task = await service.store.get_task(task_id)
    if task is None:
        raise NotFound("no such task")
    if task.state in TERMINAL_STATES:
        raise Conflict(f"the task has already ended ({task.state})")
    if task.submission == "waiting":
        recorded = await service.store.cancel_waiting(task.id, service.subscriptions)
        if recorded is not None:
            service.recorded(recorded)
            service.log.info("task.cancelled", task_id=task.id, sent=False)
            return recorded.task or task
        task = await service.store.get_task(task_id) or task  # sent meanwhile
    if task.submission == "sending":
        raise Conflict("the task is being sent to CometAPI right now: cancel it again shortly")
    if task.kind == REVERSE_KIND:
        raise Conflict(
            "CometAPI documents no cancel for video2video (reverse-format) tasks:"
            " the task runs to its end"
        )
    if task.state in TERMINAL_STATES:
        raise Conflict(f"the task has already ended ({task.state})")
    if task.upstream_task_id is None:
        raise Conflict("CometAPI has not accepted the task yet: nothing to cancel")
    await service.comet.cancel(task.upstream_task_id)
    obs = Observation(state="cancelled", upstream_status="CANCELLED")
    recorded = await service.store.record(
        task.id, "cancel", "cancel", obs, "", service.subscriptions
    )
    service.recorded(recorded)
    service.log.info("task.cancelled", task_id=task.id, upstream_task_id=task.upstream_task_id)
    return recorded.task or task
