"""Text cut to a limit, at a line or a word boundary, never inside a URL or an HTML entity;
and text escaped for each platform's markup, so that it can neither ping a channel nor pass
for a link of ours."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

Measure = Callable[[str], int]

_ELLIPSIS = "…"
_URL = re.compile(r"https?://\S+")

# ---------------------------------------------------------------------------------------
# Cutting to a limit


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what Telegram counts (an emoji outside the BMP is 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix(text: str, room: int, size: Measure) -> int:
    """How many characters of `text` fit in `room` as `size` counts."""
    if size is len:
        return max(0, min(room, len(text)))
    used = n = 0
    for ch in text:
        used += size(ch)
        if used > room:
            break
        n += 1
    return n


def clip(text: str, limit: int, size: Measure = len) -> str:
    """`text` within `limit`, cut with an ellipsis at a word boundary; never inside a URL
    (it goes whole or not at all) nor inside an HTML entity."""
    if size(text) <= limit:
        return text
    room = limit - size(_ELLIPSIS)
    if room <= 0:
        return ""
    end = _prefix(text, room, size)
    for match in _URL.finditer(text):
        if match.start() >= end:
            break
        if end < match.end():
            end = match.start()
            break
    if 0 < end < len(text) and not text[end].isspace() and not text[end - 1].isspace():
        for i in range(end - 1, end // 2 - 1, -1):
            if text[i].isspace():
                end = i
                break
    amp = text.rfind("&", max(0, end - 8), end)
    if amp != -1 and ";" not in text[amp:end]:
        end = amp
    return text[:end].rstrip() + _ELLIPSIS


def cut(lines: list[str], limit: int, size: Measure = len) -> str:
    """Whole lines up to `limit`. A first line longer than that is clipped; a later one only
    when most of it still shows, else it and the lines after it are left out."""
    kept: list[str] = []
    used = 0
    for line in lines:
        sep = 1 if kept else 0
        if used + sep + size(line) <= limit:
            kept.append(line)
            used += sep + size(line)
            continue
        room = limit - used - sep
        head = clip(line, room, size) if room > 0 else ""
        if head and (not kept or (room >= 40 and size(head) >= room // 2)):
            kept.append(head)
        break
    return "\n".join(kept)


# ---------------------------------------------------------------------------------------
# Escaping, one way per platform


def slack_escape(text: str) -> str:
    """Slack's three control characters: `<!channel>` or `<https://x|label>` stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_DISCORD_MARKUP = re.compile(r"([\\*_~`|>\[\]()#@<])")


def discord_escape(text: str) -> str:
    """Markdown, masked links and mention syntax shown as typed."""
    return _DISCORD_MARKUP.sub(r"\\\1", text)


_MARKDOWN = re.compile(r"([\\*_~`|#\[\]()!])")
_JOINER = "\u2060"  # WORD JOINER: invisible, and not a letter, so it splits a mention word


def mattermost_escape(text: str) -> str:
    """Markdown escaped, `&<>` as entities (Mattermost reads Slack's `<!channel>`), and `@`
    followed by a word joiner: Mattermost notifies every `@name` in a webhook's text."""
    return slack_escape(_MARKDOWN.sub(r"\\\1", text)).replace("@", "@" + _JOINER)


def teams_escape(text: str) -> str:
    """Teams does not document its Markdown's escaping: a word joiner after every `]` breaks
    links. Teams renders no HTML, and pings only with mention entities, which we never send."""
    return text.replace("]", "]" + _JOINER)


def google_chat_escape(text: str) -> str:
    """Card text in Google Chat is a subset of HTML (`<a href>`, `<b>`, `<font>`)."""
    return html.escape(text, quote=False)
