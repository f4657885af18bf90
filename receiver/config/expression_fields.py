"""A downstream's filter, transform and static headers, checked before they are stored.

The model checks what the text alone tells; whether it compiles (and a transform gives a map
on the example event) is asked of a process, never in a validator: `vet_expressions` where
the API takes them, `vet_now` for the config file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from receiver.expressions import evaluate
from receiver.expressions.rules import ExpressionError, check
from receiver.kernel.errors import InvalidRequest
from receiver.kernel.net.headers import header_problem
from receiver.outbox.rules.event_types import example


class DownstreamExpressions(BaseModel):
    filter: Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description="CEL over `event` (the webhook format's event), the events it takes: true"
        " delivers one, anything else does not.",
    )
    transform: Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description="CEL giving the body it is sent (a map), or {body, method, path, headers}.",
    )
    # Sent with every delivery (an API key, say). Made through the API, each value is sealed
    # at rest and never shown again.
    headers: Annotated[dict[str, str], Field(max_length=20)] = {}

    @model_validator(mode="after")
    def _expressions(self) -> Self:
        who = self.who()
        # A transform replaces the relay's JSON event: its format may have a body of its own.
        if self.transform is not None and (refused := self.transform_refusal()):
            raise ValueError(f"{who}transform: {refused}")
        if problem := header_problem(self.headers):
            raise ValueError(f"{who}{problem}")
        try:
            for source, field_name in self.sources():
                check(source, field_name)
        except ExpressionError as exc:
            raise ValueError(f"{who}{exc}") from None
        return self

    def transform_refusal(self) -> str | None:
        """Why its format takes no transform; None: it does (a model with a format says)."""
        return None

    def sources(self) -> list[tuple[str, str]]:
        """Its expressions, each with the name of its field."""
        given = (self.filter, "filter"), (self.transform, "transform")
        return [(source, name) for source, name in given if source is not None]

    def who(self) -> str:
        name = getattr(self, "name", None)
        return f"downstream {name!r}: " if name else ""


async def vet_expressions(settings: DownstreamExpressions, line: str) -> None:
    """InvalidRequest (422, in the words the model would use) unless each expression
    compiles, and a transform gives a map on the example event; asked in `line` (the
    asking app's, receiver/expressions/lines.py)."""
    for source, field_name in settings.sources():
        try:
            await evaluate.vet(source, field_name, line, _example(field_name))
        except ExpressionError as exc:
            raise InvalidRequest(f"body: {settings.who()}{exc}") from None


def vet_now(settings: Sequence[DownstreamExpressions]) -> list[str | None]:
    """For each downstream of the config file, what is wrong with its expressions (None:
    nothing), asked of one process before the relay serves."""
    asked = [(n, *given) for n, s in enumerate(settings) for given in s.sources()]
    found = evaluate.vet_now([(source, name) for _, source, name in asked], example(_EXAMPLE))
    problems: list[str | None] = [None] * len(settings)
    for (n, _, _), problem in zip(asked, found, strict=True):
        if problem is not None and problems[n] is None:
            problems[n] = f"{settings[n].who()}{problem}"
    return problems


_EXAMPLE = "task.succeeded"


def _example(field_name: str) -> dict[str, object] | None:
    """The event a transform is tried on (a filter is only compiled)."""
    return example(_EXAMPLE) if field_name == "transform" else None
