"""Google Chat: a cardsV2 message through an incoming webhook."""

from __future__ import annotations

import html

from receiver.destinations import chat_message
from receiver.destinations.chat_message import Payload
from receiver.destinations.chat_text import clip, cut, google_chat_escape
from receiver.destinations.provider import ChatDestination

# Google Chat (developers.google.com/workspace/chat/api/reference/rest/v1/CardWithId):
# "A card. Maximum size is 32 KB"; we keep the whole message under 32,000 bytes.
GOOGLE_CHAT_BYTES = 32_000


def _google_chat_link(label: str, url: str) -> str:
    return f'<a href="{html.escape(url)}">{label}</a>'


def _google_chat_card(p: Payload, budget: int) -> Payload:
    sections: list[Payload] = []
    facts = [
        {
            "decoratedText": {
                "topLabel": label,
                "text": clip(google_chat_escape(value), min(chat_message.FACT, budget)),
                "wrapText": True,
            }
        }
        for label, value in chat_message.facts(p)
    ]
    facts = [f for f in facts if f["decoratedText"]["text"]]
    if facts:
        sections.append({"widgets": facts})
    if picture := chat_message.picture(p):
        alt = "Poster" if picture == chat_message.poster(p) else chat_message.noun(p)
        sections.append({"widgets": [{"image": {"imageUrl": picture, "altText": alt}}]})
    listed = chat_message.output_list(p, _google_chat_link, google_chat_escape)
    lines = []
    if (error := chat_message.error(p)) and budget:
        reason = f"<b>Reason:</b> {google_chat_escape(error)}"
        lines.append(clip(reason, budget // 2 if listed else budget))
    if text := cut(lines + listed, budget):
        sections.append({"widgets": [{"textParagraph": {"text": text.replace("\n", "<br>")}}]})
    if links := chat_message.links(p):
        button = {"text": chat_message.open_label(p), "onClick": {"openLink": {"url": links[0]}}}
        sections.append({"widgets": [{"buttonList": {"buttons": [button]}}]})
    if not sections:
        sections.append(
            {"widgets": [{"textParagraph": {"text": google_chat_escape(chat_message.headline(p))}}]}
        )
    card = {
        # The header is plain text: no user text goes there.
        "header": {"title": clip(chat_message.headline(p), 200), "subtitle": "runway-relay"},
        "sections": sections,
    }
    return {"cardsV2": [{"cardId": "runway-relay", "card": card}]}


def google_chat(p: Payload) -> Payload:
    return chat_message.fit(_google_chat_card, p, chat_message.json_bytes, GOOGLE_CHAT_BYTES)


PROVIDER = ChatDestination("google_chat", google_chat)
