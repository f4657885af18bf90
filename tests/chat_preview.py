"""A picture of what the chat messages look like, for the README.

    python -m tests.chat_preview OUT.html

Renders one finished task's Slack and Discord messages with the relay's own renderers and
lays them out roughly as each client shows them (a preview, not the clients themselves).
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path
from typing import Any

from receiver.destinations.registry import render

_POSTER = (Path(__file__).parent / "simulator/media/poster.png").resolve()
_EVENT: dict[str, Any] = {
    "event_id": "evt_18eaa6d941aa51",
    "task_id": "tsk_18eaa6d941aa51adb917",
    "upstream_task_id": "33902899-b913-4309-8292-a65040dd5d28",
    "kind": "video2video",
    "state": "succeeded",
    "upstream_status": "SUCCESS",
    "outputs": ["https://cdn.example/runway/33902899.mp4"],
    "thumbnail": "https://cdn.example/runway/33902899-poster.png",
    "error": None,
    "point": 320.0,
    "refund": 0.0,
    "prompt": "pixel-art redraw of a harbour at dusk <!channel>",
    "model": "gen4",
    "duration": 5,
    "source": "poll",
    "occurred_at": 1795430000.0,
    "media": {
        "status": "mirrored",
        "files": [
            {
                "role": "video",
                "source": "https://cdn.example/runway/33902899.mp4",
                "url": "https://relay.example/media/InRza18xOGVh…",
                "sha256": "68dfd129eb36a978",
                "bytes": 28023,
                "content_type": "video/mp4",
            }
        ],
    },
}


def _text(value: str) -> str:
    # Slack's *bold*, shown bold; the poster's link, shown from the simulator's own file.
    shown = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", html.escape(value))
    return shown.replace("\n", "<br>")


def _image(url: str) -> str:
    return f"<img src='{_POSTER.as_uri()}' title='{html.escape(url)}'>" if url else ""


def _slack(body: dict[str, Any]) -> str:
    parts = []
    for block in body["blocks"]:
        kind = block["type"]
        if kind == "header":
            parts.append(f"<h3>{_text(block['text']['text'])}</h3>")
        elif kind == "section":
            if "text" in block:
                parts.append(f"<p>{_text(html.unescape(block['text']['text']))}</p>")
            fields = block.get("fields", [])
            cells = "".join(f"<div>{_text(html.unescape(f['text']))}</div>" for f in fields)
            parts.append(f"<div class=fields>{cells}</div>")
        elif kind == "image":
            parts.append(_image(block["image_url"]))
        elif kind == "actions":
            for element in block["elements"]:
                parts.append(f"<span class=button>{_text(element['text']['text'])}</span>")
    return "<div class='msg slack'><b>runway-relay</b>" + "".join(parts) + "</div>"


def _unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)  # Discord shows `\<` as `<`


def _discord(body: dict[str, Any]) -> str:
    embed = body["embeds"][0]

    def shown(markdown: str) -> str:
        return _text(_unescape(markdown))

    fields = "".join(
        f"<div><b>{shown(f['name'])}</b><br>{shown(f['value'])}</div>"
        for f in embed.get("fields", [])
    )
    image = embed.get("image", {}).get("url", "")
    return (
        "<div class='msg discord'><b>runway-relay</b>"
        f"<div class=embed><a>{shown(embed['title'])}</a>"
        f"<p>{shown(embed.get('description', ''))}</p><div class=fields>{fields}</div>"
        f"{_image(image)}</div></div>"
    )


_STYLE = """
body { font: 14px sans-serif; margin: 16px; width: 980px; background: #fff }
.row { display: flex; gap: 24px } .msg { flex: 1; border-radius: 8px; padding: 12px }
.slack { background: #fff; border: 1px solid #ddd }
.discord { background: #313338; color: #dbdee1 }
.embed { border-left: 4px solid #2eb67d; background: #2b2d31; padding: 8px; margin-top: 6px }
.embed a { color: #00a8fc; font-weight: bold }
img { max-width: 320px; display: block; margin: 6px 0 }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; margin: 6px 0 }
.button { border: 1px solid #bbb; border-radius: 4px; padding: 4px 10px; font-weight: bold }
h4 { margin: 0 0 8px }
"""


def main(out: str) -> None:
    slack = json.loads(render("slack", _EVENT).body)
    discord = json.loads(render("discord", _EVENT).body)
    page = (
        f"<html><head><meta charset=utf-8><style>{_STYLE}</style></head><body>"
        "<h4>Slack (Block Kit) and Discord (embed), as rendered by runway-relay</h4>"
        f"<div class=row>{_slack(slack)}{_discord(discord)}</div></body></html>"
    )
    Path(out).write_text(page)


if __name__ == "__main__":
    main(sys.argv[1])
