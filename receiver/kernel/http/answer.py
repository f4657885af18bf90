"""What every answer of the admin API shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

BreakerState = Literal["closed", "half_open", "open"]


class Answer(BaseModel):
    """An answer forbids unknown fields: one added to a record and not here fails the tests."""

    model_config = ConfigDict(extra="forbid")
