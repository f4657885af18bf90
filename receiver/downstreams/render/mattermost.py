"""Mattermost: Slack-compatible attachments through an incoming webhook."""

from __future__ import annotations

from receiver.downstreams.render import message
from receiver.downstreams.render.message import Payload
from receiver.downstreams.render.text import clip, cut, mattermost_escape

# Mattermost (developers.mattermost.com/integrate/webhooks/incoming): a post holds at most
# 16,383 characters (since 5.0); we count every string of the message, attachments included.
MATTERMOST_CHARS = 16_383


def _mattermost_post(p: Payload, budget: int) -> Payload:
    headline = message.headline(p)
    attachment: Payload = {
        "fallback": headline,
        "color": f"#{message.COLOURS.get(p.get('state', ''), message.NEUTRAL):06X}",
    }
    if links := message.links(p):
        attachment["title"] = message.open_label(p)
        attachment["title_link"] = links[0]
    fields = [
        {
            "title": label,
            "value": clip(mattermost_escape(value), min(message.FACT, budget)),
            "short": label != "Prompt",
        }
        for label, value in message.facts(p)
    ]
    fields = [f for f in fields if f["value"]]
    if fields:
        attachment["fields"] = fields
    if picture := message.picture(p):
        attachment["image_url"] = picture
    listed = message.output_list(p, lambda label, url: f"[{label}]({url})", mattermost_escape)
    lines = []
    if (error := message.error(p)) and budget:
        reason = f"**Reason:** {mattermost_escape(error)}"
        lines.append(clip(reason, budget // 2 if listed else budget))
    if text := cut(lines + listed, budget):
        attachment["text"] = text
    attachment["footer"] = "runway-relay"
    return {"text": mattermost_escape(headline), "attachments": [attachment]}


def mattermost(p: Payload) -> Payload:
    return message.fit(
        lambda budget: _mattermost_post(p, budget), message.text_chars, MATTERMOST_CHARS
    )
