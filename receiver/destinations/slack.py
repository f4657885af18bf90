"""Slack: Block Kit through an incoming webhook."""

from __future__ import annotations

from receiver.destinations import chat_message
from receiver.destinations.chat_message import Payload
from receiver.destinations.chat_text import clip, cut, slack_escape
from receiver.destinations.provider import ChatDestination

# Slack Block Kit (docs.slack.dev/reference/block-kit): header text 150 chars; section
# text 3000; each field 2000, at most 10 fields; 50 blocks a message; button text 75 and
# url 3000; image_url 3000 and alt_text 2000. The top-level `text` is the notification
# fallback (Slack truncates past 40,000; we keep it to one section's 3000).
SLACK_HEADER, SLACK_SECTION, SLACK_FIELD, SLACK_FIELDS = 150, 3000, 2000, 10
SLACK_BLOCKS, SLACK_BUTTON, SLACK_URL, SLACK_ALT = 50, 75, 3000, 2000
SLACK_TEXT = 3000


def _mrkdwn(text: str) -> Payload:
    # verbatim: Slack leaves plain text as it is (no automatic parsing of names or links).
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack(p: Payload) -> Payload:
    headline = chat_message.headline(p)
    blocks: list[Payload] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline, SLACK_HEADER)}}
    ]
    facts = [
        _mrkdwn(clip(f"*{label}*\n{slack_escape(value)}", SLACK_FIELD))
        for label, value in chat_message.facts(p)[:SLACK_FIELDS]
    ]
    if facts:
        blocks.append({"type": "section", "fields": facts})
    if error := chat_message.error(p):
        reason = clip(f"*Reason:* {slack_escape(error)}", SLACK_SECTION)
        blocks.append({"type": "section", "text": _mrkdwn(reason)})
    if picture := chat_message.picture(p):
        shown = "Output" if picture != chat_message.poster(p) else "Poster"
        alt = f"{shown} of {p.get('kind', 'the')} task {p.get('task_id', '')}"
        blocks.append({"type": "image", "image_url": picture, "alt_text": clip(alt, SLACK_ALT)})
    if listed := chat_message.output_list(
        p, lambda label, url: f"<{slack_escape(url)}|{label}>", slack_escape
    ):
        title = f"*{chat_message.plural(p)}*"
        blocks.append({"type": "section", "text": _mrkdwn(cut([title, *listed], SLACK_SECTION))})
    if links := chat_message.links(p):
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": clip(chat_message.open_label(p), SLACK_BUTTON)},
            "url": links[0],
            "action_id": f"open_{chat_message.output_type(p)}",
        }
        blocks.append({"type": "actions", "elements": [button]})
    text = cut([slack_escape(line) for line in chat_message.plain_lines(p)], SLACK_TEXT)
    return {"text": text, "blocks": blocks[:SLACK_BLOCKS]}


PROVIDER = ChatDestination("slack", slack)
