"""Submitting tasks: check what the relay must (a known kind, a `model` for Runway's own
routes, the routing fields it keeps, JSON it can send on), then store the task in the submit
queue. The rest of a body is CometAPI's to judge. The row is committed before anything
leaves, so a task CometAPI accepted is never unknown to us."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from receiver.config import problems
from receiver.config.sections import CHANNEL
from receiver.expressions.evaluate import vet
from receiver.expressions.lines import OPERATOR
from receiver.expressions.rules import ExpressionError, check
from receiver.kernel.errors import InvalidRequest, LimitReached
from receiver.kernel.net.guard import check_api_url
from receiver.kernel.observability import tracing
from receiver.kernel.observability.logs import Log
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store import Store
from receiver.keys.rules import BOOTSTRAP, Caller, KeyLimits
from receiver.lifecycle.handoff import Wakers
from receiver.lifecycle.rules.records import NewTask, Task, Work
from receiver.lifecycle.rules.task import (
    KIND_NAMES,
    TERMINAL_STATES,
    State,
    is_callback,
    kind_of,
    passed_through,
)
from receiver.tasks import transactions as task_transactions
from receiver.tasks.rules.inputs import MAX_DATA_URI_CHARS, TakenOut

# A URL CometAPI can fetch. One pattern is both the check and what the OpenAPI document
# says; whether the address is public is the guard's to judge.
_MIN_URL = 12
# An IPv6 literal as RFC 4291 writes it (eight groups, one `::` for a run of zeros, an IPv4
# tail), so that what the pattern admits is an address: the document's promise is kept.
_HEX = "[0-9a-fA-F]{1,4}"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_IPV6 = "|".join(
    (
        rf"({_HEX}:){{7}}{_HEX}",
        rf"({_HEX}:){{1,7}}:",
        *(rf"({_HEX}:){{1,{n}}}(:{_HEX}){{1,{7 - n}}}" for n in range(6, 0, -1)),
        rf":((:{_HEX}){{1,7}}|:)",
        rf"({_HEX}:){{6}}{_IPV4}",
        rf"::(ffff:)?{_IPV4}",
    )
)
_HOST_AND_REST = rf"([A-Za-z0-9][A-Za-z0-9.-]*|\[({_IPV6})\])(:[0-9]{{1,5}})?([/?#][^\x00-\x20]*)?$"


def _url_pattern(schemes: tuple[str, ...]) -> str:
    return f"^({'|'.join(schemes)})://{_HOST_AND_REST}"


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    if not re.match(_url_pattern(schemes), value) or len(value) < _MIN_URL:
        raise ValueError(f"must be an {' or '.join(schemes)} URL")
    return value


def _url_schema(schemes: tuple[str, ...]) -> dict[str, Any]:
    """What `_check_url` accepts, as the OpenAPI document says it."""
    return {"pattern": _url_pattern(schemes), "minLength": _MIN_URL}


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


def _json_size(value: Any) -> int | None:
    """Its bytes as JSON; None when it has none (NaN, Infinity, a lone surrogate)."""
    try:
        return len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode())
    except (ValueError, RecursionError):
        return None


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
ROUTING_FIELDS = ("webhook", "webhook_events", "webhook_filter", "metadata", "channels")


class Routing(_Request):
    """Where the task's events go besides the downstreams, and the caller's own data: kept by
    the relay, never sent to CometAPI."""

    webhook: Annotated[
        str | None, Field(max_length=2048, json_schema_extra=_url_schema(("https", "http")))
    ] = None
    # Task states, and `progress` for the running task's progress events (never by default).
    webhook_events: (
        Annotated[list[State | Literal["progress"]], Field(min_length=1, max_length=6)] | None
    ) = None
    # CEL over the event, as a downstream's `filter` (receiver/expressions/rules.py): its
    # size here, whether it compiles when the task is taken in (`_submit`).
    webhook_filter: Annotated[str, Field(min_length=1)] | None = None
    metadata: Annotated[dict[str, Any], Field(max_length=MAX_METADATA_KEYS)] | None = None
    channels: Annotated[list[Annotated[str, Field(pattern=CHANNEL)]], Field(max_length=20)] = []

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, ("https", "http"))

    @field_validator("webhook_filter")
    @classmethod
    def _webhook_filter(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check(value, "webhook_filter")
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        size = _json_size(value)
        if size is None:
            raise ValueError("must be plain JSON (no NaN, Infinity or bad text)")
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"is {size} bytes as JSON, over {MAX_METADATA_BYTES}")
        return value

    def routing(self) -> dict[str, Any] | None:
        """What the relay keeps of these fields (None: nothing asked)."""
        kept: dict[str, Any] = {}
        if self.webhook is not None:
            kept["webhook"] = self.webhook
            kept["webhook_events"] = sorted(self.webhook_events or TERMINAL_STATES)
            if self.webhook_filter is not None:
                kept["webhook_filter"] = self.webhook_filter
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
        if _json_size(value) is None:
            raise ValueError("options must be plain JSON (no NaN, Infinity or bad text)")
        return value


# The kinds with a model of their own (Video2VideoRequest): every other kind of the table
# is taken as CometAPI's own body, passed on as sent.
_MODELLED = ("video2video",)
_PASSED_ON = [kind_of(name) for name in KIND_NAMES if name not in _MODELLED]
_OFFICIAL_PASSED_ON = tuple(k.name for k in _PASSED_ON if k and k.form == "official")
_CALLBACK_PASSED_ON = tuple(k.name for k in _PASSED_ON if k and k.form == "reverse")


class PassedOnRequest(Routing):
    """Any other callback kind of the table (`generate`, `act_one`): its body goes to
    CometAPI as the caller sent it; the relay adds its signed `callback_url`."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    kind: Annotated[str, Field(json_schema_extra={"enum": list(_CALLBACK_PASSED_ON)})]


class OfficialPassedOnRequest(Routing):
    """Any other of Runway's own routes: its body goes to CometAPI as the caller sent it
    (models, ratios, durations and new fields are CometAPI's to judge); the relay needs only
    the routing fields and a `model`."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    kind: Annotated[str, Field(json_schema_extra={"enum": list(_OFFICIAL_PASSED_ON)})]
    model: Annotated[NotBlank, Field(max_length=64)]


class ThroughRequest(Routing):
    """A create of a Runway route the table does not know, taken at the front door: its
    body goes to CometAPI's same path as sent (not even a `model` is required: Runway's
    model router takes none)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    kind: str


# What `POST /v1/tasks` takes (its OpenAPI body); the front door takes ThroughRequest too.
AnyTaskRequest = Video2VideoRequest | OfficialPassedOnRequest | PassedOnRequest
Validated = AnyTaskRequest | ThroughRequest


def validate(payload: Any, through: bool = False) -> Validated:
    """The request, or InvalidRequest naming every field that is wrong at once. `through`:
    a route the table does not know is passed through (the front door's)."""
    if not isinstance(payload, dict):
        raise InvalidRequest("body must be a JSON object")
    found = []
    if "callback_url" in payload:
        found.append(
            "callback_url: leave it out: the relay sets its own signed callback URL on every"
            " task, which is how it knows which task a callback is about"
        )
        payload = {k: v for k, v in payload.items() if k != "callback_url"}
    kind = kind_of(payload.get("kind")) or (
        passed_through(payload.get("kind")) if through else None
    )
    if kind is None:
        found.append(f"kind: must be one of {', '.join(KIND_NAMES)}")
        raise InvalidRequest("; ".join(found))
    request: Validated | None = None
    model: type[Validated] = (
        ThroughRequest
        if kind_of(kind.name) is None
        else Video2VideoRequest
        if kind.name in _MODELLED
        else OfficialPassedOnRequest
        if kind.form == "official"
        else PassedOnRequest
    )
    try:
        request = model.model_validate(payload)
    except ValidationError as exc:
        found += problems(exc, "body")
    if model is not Video2VideoRequest:
        found += _not_plain_json(payload)
    if found or request is None:
        raise InvalidRequest("; ".join(found))
    return request


def _not_plain_json(payload: dict[str, Any]) -> list[str]:
    """A passed-on body's fields that would fail as JSON (routing fields check their own)."""
    return [
        f"{key}: must be plain JSON (no NaN, Infinity or bad text)"
        for key, value in payload.items()
        if key not in ROUTING_FIELDS and _json_size(value) is None
    ]


def _sent_fields(request: Validated, payload: dict[str, Any]) -> dict[str, Any]:
    """What goes to CometAPI: a passed-on kind's body exactly as given."""
    if isinstance(request, PassedOnRequest | OfficialPassedOnRequest | ThroughRequest):
        return {k: v for k, v in payload.items() if k not in ("kind", *ROUTING_FIELDS)}
    return request.model_dump(exclude={"kind", *ROUTING_FIELDS}, exclude_none=True)


@dataclass(frozen=True)
class Submission:
    task: Task
    created: bool  # False: an earlier request with the same idempotency key
    callback_url: str | None = None


def request_hash(kind: str, fields: dict[str, Any]) -> str:
    """What an Idempotency-Key's request must match: the request as validated."""
    canonical = json.dumps({"kind": kind, **fields}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Intake:
    """What taking a task in uses, made once at start-up (receiver/app/parts.py);
    `webhooks_off`: the unset variable that turns the operator's own tasks' webhooks off
    (None: they are on; an app's are always on)."""

    store: Store
    signer: CallbackSigner
    log: Log
    wakers: Wakers
    webhooks_off: str | None
    allow_private: bool


async def submit(
    intake: Intake,
    payload: Any,
    idempotency_key: str | None,
    trace: str | None = None,
    caller: Caller = BOOTSTRAP,
    through: bool = False,
) -> Submission:
    """Validate and store the caller's task, waiting in the submit queue: nothing leaves
    here, so CometAPI's limits never reach the caller. The task's trace is a child of
    `trace`; LimitReached when one more task would break a limit of the caller's key."""
    with tracing.span("task.submit", trace) as span:
        submission = await _submit(
            intake, payload, idempotency_key, through, span, caller.owner, caller.limits
        )
        task = submission.task
        span.set(task_id=task.id, kind=task.kind, model=task.request.get("model"))
        span.set(created=submission.created, state=task.state)
        return submission


async def _submit(
    intake: Intake,
    payload: Any,
    idempotency_key: str | None,
    through: bool,
    span: tracing.Span,
    owner_key: str | None,
    limits: KeyLimits,
) -> Submission:
    # Each data URI is kept apart, once, and never copied on the way: the request, its
    # validation and its fingerprint see a short stand-in, then a reference to it.
    taken = TakenOut()
    if isinstance(payload, dict):
        payload = taken.take_fields(payload, ("kind", *ROUTING_FIELDS))
    if taken.too_large:
        raise InvalidRequest(
            f"a data URI is {max(taken.too_large)} characters, over {MAX_DATA_URI_CHARS}"
        )
    if (too_much := taken.too_much()) is not None:
        raise InvalidRequest(too_much)
    request = validate(payload, through)
    routing = request.routing()
    if routing and "webhook" in routing:
        check_webhook(intake, routing["webhook"], owner_key)
    if routing and "webhook_filter" in routing:  # compiled in a process, never here
        try:
            await vet(routing["webhook_filter"], "webhook_filter", owner_key or OPERATOR)
        except ExpressionError as exc:
            raise InvalidRequest(f"webhook_filter: {exc}") from None
    fields = taken.references(_sent_fields(request, payload))
    inputs = taken.uris
    kind = request.kind
    asked = {**fields, **({"routing": routing} if routing else {})}
    fingerprint = request_hash(kind, asked) if idempotency_key else None
    if idempotency_key:
        # Each caller's Idempotency-Keys never meet another's task: a key's under its id
        # (`key_...:`), the admin token's under `admin:`, which no key id is.
        idempotency_key = f"{owner_key or 'admin'}:{idempotency_key}"
    new = NewTask(
        kind,
        fields,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        routing=routing,
        trace_context=span.context(),
        owner_key=owner_key,
        inputs=inputs,
    )
    try:
        task, created = await task_transactions.queue(intake.store, new, limits)
    except LimitReached as exc:
        intake.log.info("submit.limit_reached", key=owner_key, limit=exc.limit)
        raise
    log = intake.log.bind(task_id=task.id, kind=kind)
    callback_url = intake.signer.url_for(task.id) if is_callback(kind) else None
    if not created:
        log.info("submit.idempotent_replay")
        return Submission(task, False, callback_url)
    intake.wakers.wake(Work.SUBMITS)
    log.info("submit.queued")
    return Submission(task, True, callback_url)


def check_webhook(intake: Intake, url: str, owner: str | None = None) -> None:
    """A task's webhook may not name a private address (checked again after DNS), and it is
    signed: an app's task's with its app's own keys, the operator's with the relay-wide
    secret, which must be there."""
    if intake.webhooks_off is not None and owner is None:
        raise InvalidRequest(
            f"webhook: task webhooks are off here ({intake.webhooks_off} is not set)"
        )
    check_api_url(url, "webhook", intake.allow_private)
