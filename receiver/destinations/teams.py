"""Microsoft Teams: an Adaptive Card through a Workflows webhook."""

from __future__ import annotations

from receiver.destinations import chat_message
from receiver.destinations.chat_message import Payload
from receiver.destinations.chat_text import clip, cut, teams_escape
from receiver.destinations.provider import ChatDestination

# Microsoft Teams (learn.microsoft.com, "Create incoming webhooks" and the Workflows
# connector's known limits): a message is at most about 28 KB, or the post fails with 413.
TEAMS_BYTES = 28_000


def _teams_card(p: Payload, budget: int) -> Payload:
    body: list[Payload] = [
        {
            "type": "TextBlock",
            "text": teams_escape(chat_message.headline(p)),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        }
    ]
    facts = [
        {"title": label, "value": clip(teams_escape(value), min(chat_message.FACT, budget))}
        for label, value in chat_message.facts(p)
    ]
    facts = [f for f in facts if f["value"]]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if picture := chat_message.picture(p):
        alt = "Poster" if picture == chat_message.poster(p) else chat_message.noun(p)
        body.append({"type": "Image", "url": picture, "altText": alt, "size": "Stretch"})
    listed = chat_message.output_list(p, lambda label, url: f"[{label}]({url})", teams_escape)
    lines = []
    if (error := chat_message.error(p)) and budget:
        lines.append(clip(f"Reason: {teams_escape(error)}", budget // 2 if listed else budget))
    if text := cut(lines + listed, budget):
        # Teams keeps a Markdown line break only between paragraphs.
        body.append({"type": "TextBlock", "text": text.replace("\n", "\n\n"), "wrap": True})
    card: Payload = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if links := chat_message.links(p):
        open_first = {
            "type": "Action.OpenUrl",
            "title": chat_message.open_label(p),
            "url": links[0],
        }
        card["actions"] = [open_first]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def teams(p: Payload) -> Payload:
    return chat_message.fit(_teams_card, p, chat_message.json_bytes, TEAMS_BYTES)


PROVIDER = ChatDestination("teams", teams)
