"""The agents' door: `/mcp`, the relay as a Model Context Protocol server (server.py).

Mounted when `[mcp] enabled` is "auto" (the default) and the `mcp` extra is installed, or
"on" (start-up refuses without the extra); never when "off". The door reaches no further
than the HTTP API: the same keys, scopes, limits and pipeline actions. Only server.py
imports the SDK, and only when the door is mounted, so the core install never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from receiver.kernel.extras import installed
from receiver.wiring.service import Service

if TYPE_CHECKING:
    from receiver.agents.calls import ToolParts
    from receiver.agents.server import AgentsDoor

PATH = "/mcp"


def agents_door(service: Service, parts: ToolParts) -> AgentsDoor | None:
    """The door over `service` and the `parts` its tools use, or None when it is not mounted."""
    mode = service.config.settings.mcp.enabled
    if mode == "off" or (mode == "auto" and not installed("mcp")):
        return None
    from receiver.agents.server import AgentsDoor

    return AgentsDoor(service, parts)
