"""What each kind of downstream receives: a signed JSON event, a Slack or a Discord message.

Rendering depends only on the stored event payload, so every retry sends the same body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

_EMOJI = {"succeeded": "✅", "failed": "❌", "cancelled": "🚫", "running": "⏳", "queued": "🕒"}
_DISCORD_COLOURS = {"succeeded": 0x2EB67D, "failed": 0xE01E5A, "cancelled": 0x9E9E9E}


def _headline(p: dict[str, Any]) -> str:
    return f"{_EMOJI.get(p['state'], '•')} Runway {p['kind']} task {p['task_id']} {p['state']}"


def _details(p: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if p.get("outputs"):
        lines.extend(f"Output: {url}" for url in p["outputs"])
    if p.get("error"):
        lines.append(f"Reason: {p['error']}")
    if p.get("upstream_task_id"):
        lines.append(f"Upstream id: {p['upstream_task_id']}")
    return lines


def webhook(p: dict[str, Any]) -> dict[str, Any]:
    # Standard Webhooks' recommended shape: a type, a timestamp and the data.
    occurred = datetime.fromtimestamp(p["occurred_at"], UTC).isoformat().replace("+00:00", "Z")
    return {"type": f"task.{p['state']}", "timestamp": occurred, "data": p}


def slack(p: dict[str, Any]) -> dict[str, Any]:
    return {"text": "\n".join([_headline(p), *_details(p)])}


def discord(p: dict[str, Any]) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": _headline(p)[:256],
        "description": "\n".join(_details(p))[:4096],
        "color": _DISCORD_COLOURS.get(p["state"], 0x5865F2),
    }
    if p.get("outputs"):
        embed["url"] = p["outputs"][0]
    return {"content": None, "embeds": [embed], "allowed_mentions": {"parse": []}}


RENDERERS = {"webhook": webhook, "slack": slack, "discord": discord}


def render(fmt: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps(RENDERERS[fmt](payload))
