"""What every answer of the admin API shares."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

BreakerState = Literal["closed", "half_open", "open"]


class Answer(BaseModel):
    """An answer forbids unknown fields: one given in a dict and not declared here fails."""

    model_config = ConfigDict(extra="forbid")


def as_answer(model: type[BaseModel], source: object) -> dict[str, Any]:
    """`source` as `model` shows it, in JSON's types: a dict, or a record read by its
    attributes (its nested records too)."""
    return model.model_validate(source, from_attributes=True).model_dump(
        mode="json", exclude_unset=True
    )
