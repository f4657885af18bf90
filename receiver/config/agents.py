"""The `[mcp]` section: the agents' door at /mcp (receiver/agents)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class McpConfig(BaseModel):
    """`auto` mounts /mcp when the `mcp` extra is installed, `on` refuses to start without
    it, `off` never mounts it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: Literal["auto", "on", "off"] = "auto"
    # `wait_for_task` returns after this long at most, ended or not: clients time calls out.
    max_wait_seconds: Annotated[float, Field(gt=0, le=600)] = 120.0
    # A finished image up to this size comes back in the tool's result itself; 0: links only.
    inline_image_bytes: Annotated[int, Field(ge=0, le=8 * 1024 * 1024)] = 512 * 1024
    # Sessions one key may hold open at once: past it that key alone is refused (429), so
    # one key cannot take the memory and the room every other app's agents need.
    max_sessions_per_key: Annotated[int, Field(gt=0, le=10_000)] = 16
    # A session with no request in flight and no open GET stream for this long ends (its
    # client opens a new one); the SDK's own default, 30 minutes, let idle ones pile up.
    session_idle_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 300.0
