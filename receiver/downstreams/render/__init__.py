"""What each kind of downstream receives: a signed JSON event, or a chat platform's message.

Rendering depends only on the stored event document (and, for Telegram, on the chat named
in the downstream's URL), so every retry sends the same body. Text that comes from upstream
or from users (failure reasons, prompts) is escaped for each platform, so that it can
neither ping a channel nor pass for a link of ours. Every message is kept within its
platform's documented limits by cutting at a line or a word boundary, never inside a URL
or an HTML entity.

`render` answers the body and, for Telegram, the Bot API method to post it to (a path
appended to the downstream's URL, before any query string).

`text` cuts and escapes text, `message` says what a document's message holds before any
markup, and each format has a module of its own (`webhook`, `slack`, `discord`, `teams`,
`telegram`, `google_chat`, `mattermost`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import orjson

from receiver.downstreams.render import discord, google_chat, mattermost, slack, teams, telegram
from receiver.downstreams.render.message import Payload
from receiver.downstreams.render.telegram import file_bytes, telegram_chat
from receiver.downstreams.render.text import clip, cut, discord_escape, slack_escape, utf16_len

# The function, as callers import it: it hides the submodule of that name on the package
# (import from receiver.downstreams.render.webhook to reach the module).
from receiver.downstreams.render.webhook import webhook

__all__ = [
    "FORMATS",
    "RENDERERS",
    "Rendered",
    "clip",
    "cut",
    "discord_escape",
    "file_bytes",
    "render",
    "slack_escape",
    "telegram_chat",
    "utf16_len",
    "webhook",
    "with_path",
]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A downstream's body, and the path to append to its URL (Telegram's Bot API method)."""

    body: bytes
    path: str = ""


RENDERERS: dict[str, Callable[[Payload], Payload]] = {
    "webhook": webhook,
    "slack": slack.slack,
    "discord": discord.discord,
    "teams": teams.teams,
    "google_chat": google_chat.google_chat,
    "mattermost": mattermost.mattermost,
}
FORMATS = (*RENDERERS, "telegram")


def render(
    fmt: str, payload: Payload, url: str = "", posted: tuple[str, bool] | None = None
) -> Rendered:
    """The body for a downstream of format `fmt` at `url` (Telegram reads its chat there);
    `posted`: the task's first message there, which Telegram edits in place."""
    if fmt == "telegram":
        path, body = telegram.telegram(payload, *telegram_chat(url), posted=posted)
        return Rendered(orjson.dumps(body), path)
    return Rendered(orjson.dumps(RENDERERS[fmt](payload)))


def with_path(url: str, path: str) -> str:
    """`url` with `path` appended to its path, before any query string."""
    if not path:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))
