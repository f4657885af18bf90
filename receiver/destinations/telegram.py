"""Telegram: the Bot API's sendVideo, sendPhoto or sendAudio by URL (as the task made a
video, an image or a sound), or sendMessage, to the chat (and forum topic) named in the
downstream's URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from receiver.destinations import chat_message
from receiver.destinations.chat_message import Payload
from receiver.destinations.chat_text import cut, utf16_len
from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import Destination, Rendered
from receiver.destinations.publishing import Opening, Publisher

# Telegram Bot API (core.telegram.org/bots/api): caption 1024 characters, text 4096, counted
# in UTF-16 code units as its entity offsets are. A file sent by URL is fetched only up to
# 20 MB, a photo 5 MB; sendAudio takes MP3 and M4A only (other sounds go as links).
TELEGRAM_CAPTION, TELEGRAM_TEXT, TELEGRAM_FETCH_BYTES = 1024, 4096, 20 * 1024 * 1024
TELEGRAM_PHOTO_BYTES = 5 * 1024 * 1024
_SEND = {
    "video": ("/sendVideo", "video", TELEGRAM_FETCH_BYTES),
    "image": ("/sendPhoto", "photo", TELEGRAM_PHOTO_BYTES),
    "audio": ("/sendAudio", "audio", TELEGRAM_FETCH_BYTES),
}
_SENT_WITH_CAPTION = tuple(method for method, _, _ in _SEND.values())
_SENDABLE_AUDIO = re.compile(r"audio/(mpeg|mp3|mp4|x-m4a)|.*\.(mp3|m4a)", re.IGNORECASE)


def telegram_chat(url: str) -> tuple[int | str | None, int | None]:
    """The chat (and forum topic) named in a Telegram downstream's URL (`?chat_id=<id or
    @channel>[&message_thread_id=<n>]`)."""
    query = parse_qs(urlsplit(url).query)
    chat = next(iter(query.get("chat_id", [])), None)
    thread = next(iter(query.get("message_thread_id", [])), None)
    chat_id: int | str | None = int(chat) if chat and re.fullmatch(r"-?\d+", chat) else chat
    return chat_id, int(thread) if thread and thread.isdigit() else None


def _sizes(value: Any, depth: int = 0) -> Iterator[Payload]:
    """Entries with a size in bytes, wherever a document keeps its files."""
    if depth > 4:
        return
    if isinstance(value, dict):
        size = value.get("bytes", value.get("size"))
        if isinstance(size, int) and not isinstance(size, bool):
            yield value
        for item in value.values():
            yield from _sizes(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _sizes(item, depth + 1)


def _entries(p: Payload, url: str) -> list[Payload]:
    """The document's entries of the file at `url` (else its only output entry)."""
    entries = [e for key in ("media", "mirror", "files") for e in _sizes(p.get(key))]
    named = [e for e in entries if url in chat_message.strings(e)]
    if named:
        return named
    kind = chat_message.output_type(p)
    named = [
        e
        for e in entries
        if e.get("role") == kind or str(e.get("content_type", "")).startswith(f"{kind}/")
    ]
    return named if len(named) == 1 else []


def file_bytes(p: Payload, url: str) -> int | None:
    """The size of the file at `url` when the document says it; else None."""
    named = _entries(p, url)
    sizes = [e.get("bytes", e.get("size")) for e in named]
    return max((s for s in sizes if isinstance(s, int)), default=None)


def telegram(
    p: Payload,
    chat_id: int | str | None = None,
    thread_id: int | None = None,
    posted: tuple[str, bool] | None = None,
) -> tuple[str, Payload]:
    """The Bot API method and its parameters. No parse_mode: the text is shown as typed, so
    nothing in it can become a link or a mention. With `posted` (the task's first message
    here: its id, and whether it has a caption), that message is edited in place."""
    if posted is not None:
        return _edit(p, chat_id, posted)
    target: Payload = {}
    if chat_id is not None:
        target["chat_id"] = chat_id
    if thread_id is not None:
        target["message_thread_id"] = thread_id
    lines = _lines(p)
    outputs = chat_message.outputs(p)
    links = chat_message.links(p)
    first = links[0] if links else None
    method, field, most = _SEND[chat_message.output_type(p)]
    size = file_bytes(p, first) if first else None
    if first and (size is None or size <= most) and _sendable(p, first):
        rest = [f"Output: {url}" for url in outputs if url != first]
        caption = cut(lines + rest, TELEGRAM_CAPTION, utf16_len)
        params: Payload = {**target, field: first, "caption": caption}
        if field == "video":
            params["supports_streaming"] = True
        return method, params
    if size is not None and size > most:
        noun = chat_message.noun(p).lower()
        lines.append(
            f"The {noun} is {size / 1_048_576:.0f} MB, over the "
            f"{most // 1_048_576} MB Telegram fetches:"
        )
    lines.extend(f"Output: {url}" for url in outputs)
    return "/sendMessage", {**target, "text": cut(lines, TELEGRAM_TEXT, utf16_len)}


def _lines(p: Payload) -> list[str]:
    """The headline, the facts and the reason, as plain text."""
    lines = [chat_message.headline(p), *(f"{k}: {v}" for k, v in chat_message.facts(p))]
    if error := chat_message.error(p):
        lines.append(f"Reason: {error}")
    return lines


def _sendable(p: Payload, url: str) -> bool:
    """Whether Telegram takes this output by its send method (a sound only as MP3 or M4A)."""
    if chat_message.output_type(p) != "audio":
        return True
    types = [str(e.get("content_type", "")) for e in _entries(p, url)]
    return any(_SENDABLE_AUDIO.fullmatch(t) for t in [*types, urlsplit(url).path] if t)


def _edit(p: Payload, chat_id: int | str | None, posted: tuple[str, bool]) -> tuple[str, Payload]:
    message_id, media = posted
    lines = [*_lines(p), *(f"Output: {url}" for url in chat_message.outputs(p))]
    target: Payload = {"chat_id": chat_id, "message_id": int(message_id)}
    if media:
        return "/editMessageCaption", {**target, "caption": cut(lines, TELEGRAM_CAPTION, utf16_len)}
    return "/editMessageText", {**target, "text": cut(lines, TELEGRAM_TEXT, utf16_len)}


# What a new message's answer says of it: the id Telegram gave it.
_MESSAGE_ID = re.compile(r'"message_id"\s*:\s*(\d+)')


def posted_message(path: str, answer: str) -> tuple[str, bool] | None:
    """The message a successful send created (id, has a caption rather than a text); None
    for an edit, or when the answer does not say."""
    if path not in (*_SENT_WITH_CAPTION, "/sendMessage"):
        return None
    found = _MESSAGE_ID.search(answer)
    return (found.group(1), path in _SENT_WITH_CAPTION) if found else None


class TelegramDestination(Destination):
    """Its message goes to the chat its URL names, by the Bot API method (a path after the
    token) the output asks for; later events of the task edit that message."""

    metadata = METADATA["telegram"]

    def render(self, payload: Payload, url: str, posted: tuple[str, bool] | None) -> Rendered:
        path, body = telegram(payload, *telegram_chat(url), posted=posted)
        return Rendered(orjson.dumps(body), path)

    def open(self, settings: Any, opening: Opening) -> Publisher:
        from receiver.destinations.http import HttpPublisher  # with the first HTTP downstream

        assert opening.route is not None, "an HTTP destination's publisher needs its route"
        url, timeout = str(settings.url), float(settings.timeout)
        return HttpPublisher(opening.route(), url, timeout, posted_message)


PROVIDER = TelegramDestination()
