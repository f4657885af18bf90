"""The answers and query parameters every resource shares, as pydantic models: what the
routes answer through and FastAPI reads parameters with and describes (one truth). A task's,
its events', deliveries' and attempts' own are receiver/tasks/rules/answers.py's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from receiver.kernel.errors import ParseError
from receiver.kernel.http.body import check_depth
from receiver.kernel.moments import epoch_seconds

# Text the stores take as it is: PostgreSQL refuses NUL in a string, so it is refused here.
TEXT = r"^[^\x00]*$"
Text = Annotated[str, Field(max_length=500, pattern=TEXT)]
Id = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT)]
Key = Annotated[str, Field(min_length=1, max_length=255, pattern=TEXT)]
BreakerState = Literal["closed", "half_open", "open"]


class Answer(BaseModel):
    """An answer forbids unknown fields: one given in a dict and not declared here fails.
    Each is built at its first answer, not at start-up: most of the sixty or so are never
    used by a relay that mostly takes callbacks."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


def as_answer(model: type[BaseModel], source: object) -> dict[str, Any]:
    """`source` as `model` shows it, in JSON's types: a dict, or a record read by its
    attributes (its nested records too)."""
    return model.model_validate(source, from_attributes=True).model_dump(
        mode="json", exclude_unset=True
    )


class ErrorAnswer(Answer):
    """Every refusal: a machine-readable code and a sentence for people."""

    error: str = Field(examples=["bad_request", "unauthorized", "not_found", "invalid_request"])
    detail: str
    limit: str | None = Field(
        None,
        description="`limit_reached`: the limit reached, `max_queued`, `max_per_day` or one"
        " of the `server.request_calls_*` settings.",
    )


def answerable_metadata(metadata: object) -> object:
    """Metadata an older release let in nested past what can be written is shown as a note,
    so that its task (and every list it is in) can still be answered."""
    try:
        check_depth(metadata)
    except ParseError as exc:
        return {"unreadable": exc.detail}
    return metadata


class Ok(Answer):
    ok: Literal[True]


# Parameters: the query's, read by FastAPI through these models (and by the agents' tools).


def _moment(value: object) -> object:
    """Epoch seconds or an ISO 8601 time (UTC unless it says otherwise), as epoch seconds."""
    return epoch_seconds(value) if isinstance(value, str) else value


Moment = Annotated[
    float,
    BeforeValidator(_moment),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]}),
]
Epoch = Annotated[float, Field(allow_inf_nan=False)]


class Params(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Limit(Params):
    limit: int = Field(50, ge=1, le=1000, description="At most this many.")
