"""Discord: one embed through a webhook."""

from __future__ import annotations

from receiver.destinations import chat_message
from receiver.destinations.chat_message import Payload
from receiver.destinations.chat_text import clip, cut, discord_escape
from receiver.destinations.provider import ChatDestination

# Discord embed limits (discord.com/developers/docs/resources/message#embed-object-embed-
# limits): title 256, description 4096, 25 fields, field name 256 and value 1024, footer
# 2048, author name 256, and 6000 characters across all of those in a message's embeds.
DISCORD_TITLE, DISCORD_DESCRIPTION, DISCORD_FIELDS = 256, 4096, 25
DISCORD_FIELD_NAME, DISCORD_FIELD_VALUE, DISCORD_FOOTER, DISCORD_TOTAL = 256, 1024, 2048, 6000


def _embed_chars(embed: Payload) -> int:
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
        + len(embed.get("footer", {}).get("text", ""))
    )


def discord(p: Payload) -> Payload:
    embed: Payload = {
        "title": clip(chat_message.headline(p), DISCORD_TITLE),
        "color": chat_message.COLOURS.get(p.get("state", ""), chat_message.NEUTRAL),
    }
    outputs = chat_message.outputs(p)
    if outputs and chat_message.linkable(outputs[0]):
        embed["url"] = outputs[0]
    fields = [
        {
            "name": clip(label, DISCORD_FIELD_NAME),
            "value": clip(discord_escape(value), DISCORD_FIELD_VALUE),
            "inline": label != "Prompt",
        }
        for label, value in chat_message.facts(p)[:DISCORD_FIELDS]
    ]
    if fields:
        embed["fields"] = fields
    if picture := chat_message.picture(p):
        embed["image"] = {"url": picture}
    footer = f"runway-relay · {p.get('event_id', '')}"
    embed["footer"] = {"text": clip(footer, DISCORD_FOOTER)}
    if occurred := chat_message.iso(p.get("occurred_at")):
        embed["timestamp"] = occurred
    # The description takes what the 6000 across the embed leaves (at least ~500: the
    # title, the fields and the footer are capped well below that); a long reason, half of
    # it when there are links to list too.
    room = min(DISCORD_DESCRIPTION, DISCORD_TOTAL - _embed_chars(embed))
    lines = []
    if error := chat_message.error(p):
        lines.append(clip(f"Reason: {discord_escape(error)}", room // 2 if outputs else room))
    lines.extend(
        f"Output: {u if chat_message.LINKABLE.fullmatch(u) else discord_escape(u)}" for u in outputs
    )
    if description := cut(lines, room):
        embed["description"] = description
    return {"content": None, "embeds": [embed], "allowed_mentions": {"parse": []}}


PROVIDER = ChatDestination("discord", discord)
