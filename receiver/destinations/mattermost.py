"""Mattermost: Slack-compatible attachments through an incoming webhook."""

from __future__ import annotations

from receiver.destinations import chat_message
from receiver.destinations.chat_message import Payload
from receiver.destinations.chat_text import clip, cut, mattermost_escape
from receiver.destinations.provider import ChatDestination

# Mattermost (developers.mattermost.com/integrate/webhooks/incoming): a post holds at most
# 16,383 characters (since 5.0); we count every string of the message, attachments included.
MATTERMOST_CHARS = 16_383


def _mattermost_post(p: Payload, budget: int) -> Payload:
    headline = chat_message.headline(p)
    attachment: Payload = {
        "fallback": headline,
        "color": f"#{chat_message.COLOURS.get(p.get('state', ''), chat_message.NEUTRAL):06X}",
    }
    if links := chat_message.links(p):
        attachment["title"] = chat_message.open_label(p)
        attachment["title_link"] = links[0]
    fields = [
        {
            "title": label,
            "value": clip(mattermost_escape(value), min(chat_message.FACT, budget)),
            "short": label != "Prompt",
        }
        for label, value in chat_message.facts(p)
    ]
    fields = [f for f in fields if f["value"]]
    if fields:
        attachment["fields"] = fields
    if picture := chat_message.picture(p):
        attachment["image_url"] = picture
    listed = chat_message.output_list(p, lambda label, url: f"[{label}]({url})", mattermost_escape)
    lines = []
    if (error := chat_message.error(p)) and budget:
        reason = f"**Reason:** {mattermost_escape(error)}"
        lines.append(clip(reason, budget // 2 if listed else budget))
    if text := cut(lines + listed, budget):
        attachment["text"] = text
    attachment["footer"] = "runway-relay"
    return {"text": mattermost_escape(headline), "attachments": [attachment]}


def mattermost(p: Payload) -> Payload:
    return chat_message.fit(_mattermost_post, p, chat_message.text_chars, MATTERMOST_CHARS)


PROVIDER = ChatDestination("mattermost", mattermost)
