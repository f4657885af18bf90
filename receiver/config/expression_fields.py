"""A downstream's filter, transform and static headers, wherever it is declared: checked
before they are stored (receiver/kernel/expressions.py says what CEL may do here)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from receiver.destinations.registry import provider_of
from receiver.kernel import expressions
from receiver.kernel.net.headers import header_problem
from receiver.lifecycle.rules.catalog import example


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
        name = getattr(self, "name", None)
        fmt = str(getattr(self, "format", "webhook"))
        who = f"downstream {name!r}: " if name else ""
        # A transform replaces the relay's JSON event; a chat format renders a message of
        # its own and takes a filter only.
        if self.transform is not None and not provider_of(fmt).transformable:
            raise ValueError(
                f"{who}transform: a {fmt} downstream sends a chat message; it takes a filter only"
            )
        if problem := header_problem(self.headers):
            raise ValueError(f"{who}{problem}")
        try:
            if self.filter is not None:
                expressions.check(self.filter, "filter")
            if self.transform is not None:
                program = expressions.check(self.transform, "transform")
                _gives_a_map(program)
        except expressions.ExpressionError as exc:
            raise ValueError(f"{who}{exc}") from None
        return self


def _gives_a_map(program: object) -> None:
    """A transform whose result on the example event is not a map is refused (one that
    fails there may still suit the events it is meant for)."""
    sample = expressions.Context(expressions.variables(example("task.succeeded")))
    try:
        result = expressions.execute(program, sample, "transform")
    except expressions.OverBudget as exc:  # weighed before it runs: never holds the loop
        raise expressions.ExpressionError(f"{exc} (the example task.succeeded)") from None
    except BaseException as exc:
        expressions.evaluation_error(exc)  # a cancellation goes on
        return
    if not isinstance(result, dict):
        raise expressions.ExpressionError(
            f"transform must give a map, and gives a {type(result).__name__}", (1, 1)
        )
