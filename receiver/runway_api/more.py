"""The rest of Runway's SDK surface under `/runwayml`: a create of a route the kinds table
does not know, passed through to CometAPI; a clear 404 for the routes that make no task;
and the organization's usage from the relay's own records.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.routing import Route

from receiver.config.sections import ServerConfig
from receiver.kernel.errors import InvalidRequest, NotFound, RelayError
from receiver.kernel.http.answers import Json, methods_of
from receiver.kernel.http.body import read_json
from receiver.kernel.http.models import Answer
from receiver.kernel.http.openapi import answer, body, reply
from receiver.kernel.store import Store
from receiver.keys.guard import authorize, keys_of, operation
from receiver.keys.rules import Scope
from receiver.lifecycle.rules.task import passed_through
from receiver.runway_api import shape
from receiver.runway_api.models import USAGE_MODELS
from receiver.runway_api.tasks import (
    RunwayError,
    create,
    refusal,
    runway_version,
    tasks_since,
)
from receiver.tasks.api import intake_of
from receiver.wiring.dependencies import ServerSection, Stored, server_settings_of

_USAGE_BODY_BYTES = 4096
_PAGES = 100  # a window past 100,000 tasks is counted in its newest 100,000


class RunwayUsedCredit(Answer):
    amount: int = Field(description="Credits CometAPI confirmed for the model's tasks.")
    model: str


class RunwayUsageDay(Answer):
    date: str = Field(description="YYYY-MM-DD, UTC.")
    usedCredits: list[RunwayUsedCredit]


class RunwayUsage(Answer):
    """Runway's usage answer, from the relay's own records."""

    models: list[str] = Field(description="The models with usage in the window.")
    results: list[RunwayUsageDay] = Field(description="Every day of the window, oldest first.")


def _iso_day(value: object) -> object:
    """Only a day written YYYY-MM-DD, as Runway takes it (no epoch number, no time)."""
    if isinstance(value, date) or (isinstance(value, str) and _DAY.fullmatch(value)):
        return value
    raise ValueError("must be a date, YYYY-MM-DD")


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
Day = Annotated[date, BeforeValidator(_iso_day)]


class UsageDates(BaseModel):
    """The window asked: Runway's SDK sends it as the body of a POST."""

    startDate: Day | None = Field(None, description="First day (UTC); 30 days back if not given.")
    beforeDate: Day | None = Field(
        None, description="The day after the last (UTC); 30 days after `startDate` if not given."
    )


_DATES: TypeAdapter[UsageDates] = TypeAdapter(UsageDates)


async def usage_posted(request: Request, store: Stored, server: ServerSection) -> Response:
    """The window's dates in the JSON body, as the Python SDK sends them (`{}` at least)."""
    body = await read_json(request, _USAGE_BODY_BYTES, server.body_timeout_seconds)
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    try:
        asked = _DATES.validate_python(body)
    except ValidationError:
        raise InvalidRequest("startDate and beforeDate must be dates, YYYY-MM-DD") from None
    return await _usage(request, store, server, asked)


async def usage_asked(
    request: Request,
    store: Stored,
    server: ServerSection,
    asked: Annotated[UsageDates, Query()],
) -> Response:
    return await _usage(request, store, server, asked)


async def _usage(
    request: Request, store: Store, server: ServerConfig, asked: UsageDates
) -> Response:
    try:
        first, end = shape.usage_window(asked.startDate, asked.beforeDate, datetime.now(UTC).date())
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    since = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    found = await tasks_since(request, store, server, since, _PAGES)
    return reply(RunwayUsage, shape.usage(found, first, end, USAGE_MODELS))


async def _elsewhere(request: Request) -> Response:
    """Every other path under `/runwayml/v1/`: a create of a route the table does not know
    is passed through; anything else is a 404. A bare route: it asks the app for its parts."""
    name, method = request.path_params["route"], request.method
    if methods := methods_of(request, ROUTES):  # a documented path, another method
        headers = {"Allow": ", ".join(sorted(methods))}
        return Json({"error": f"{method} is not allowed on /v1/{name}"}, 405, headers=headers)
    try:
        scope: Scope = "tasks:submit" if method == "POST" else "tasks:read"
        await authorize(request, await keys_of(request), scope)
        if method != "POST" or passed_through(name) is None:
            raise NotFound(f"the relay does not offer {method} /v1/{name}")
        if not request.headers.get("x-runway-version"):
            raise InvalidRequest("X-Runway-Version header is required")
        intake, server = await intake_of(request), await server_settings_of(request)
        return await create(name, request, intake, server, through=True)
    except RelayError as exc:
        return refusal(exc)


_USAGE = "/runwayml/v1/organization/usage"
_USAGE_DOC = operation(
    "tasks:read",
    "Credits per model per day (Runway's shape)",
    "Runway's `POST /v1/organization/usage` (as its Python SDK's `retrieve_usage` sends"
    " it; `GET` with the dates in the query as well): the credits CometAPI confirmed for"
    " the tasks made each day (UTC) of the window, per model (an API key's own tasks"
    " only). A model Runway's SDK does not name is left out, as its strict mode would"
    " refuse it.",
    {
        200: answer("The usage.", RunwayUsage),
        400: answer("A date is wrong, or the window is over 90 days.", RunwayError),
    },
    refusal=RunwayError,
)
router = APIRouter(tags=["runwayml"], dependencies=[Depends(runway_version)])
router.add_api_route(
    _USAGE,
    usage_posted,
    methods=["POST"],
    openapi_extra=body(
        _DATES, "Runway_usage", "The window: `startDate`, `beforeDate` (both optional)."
    ),
    **_USAGE_DOC,
)
router.add_api_route(_USAGE, usage_asked, methods=["GET"], **_USAGE_DOC)
# After every documented route: what they do not match falls here.
ROUTES = (
    Route(
        "/runwayml/v1/{route:path}",
        _elsewhere,
        methods=["POST", "GET", "PUT", "PATCH", "DELETE"],
    ),
)
