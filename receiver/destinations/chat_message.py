"""What a message says, before any platform's markup: the headline, the facts, the reason
and the links of a stored event document or a notice; and a message fitted to a limit."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

Payload = dict[str, Any]

_EMOJI = {"succeeded": "✅", "failed": "❌", "cancelled": "🚫", "running": "⏳", "queued": "🕒"}
COLOURS = {"succeeded": 0x2EB67D, "failed": 0xE01E5A, "cancelled": 0x9E9E9E}
NEUTRAL = 0x5865F2
_DISABLED = "downstream.disabled"
# The operator alerts' headlines (receiver/alerts), by type.
_ALERTS = {
    "endpoint.failing": "🔴 runway-relay: {} is failing",
    "endpoint.recovered": "🟢 runway-relay: {} delivers again",
    "endpoint.disabled": "⛔ runway-relay disabled {}",
}
# A URL we hand to a platform as a link target, button or image: http(s), and none of the
# characters that end a link in one platform's markup or another (Slack `|` and `>`,
# Markdown `)` and `]`, HTML quotes). Others are shown as escaped text, never as a link.
LINKABLE = re.compile(r"https?://[^\s<>|\[\]()\"'`\\]+")
MAX_LINK = 2048  # our own cap on a link we render (Slack and others allow 3000)
FACT = 1000  # our cap on one fact (a prompt) in a card
DETAILS = 4000  # our starting budget for the reason and the list of outputs in a card


def _notice(p: Payload) -> bool:
    return p.get("type") == _DISABLED or p.get("type") in _ALERTS


# An alert about several downstreams of one app (a digest), by type.
_SEVERAL = {
    "endpoint.failing": "🔴 runway-relay: {} are failing",
    "endpoint.recovered": "🟢 runway-relay: {} deliver again",
    "endpoint.disabled": "⛔ runway-relay disabled {}",
}


def _named(p: Payload) -> list[tuple[str, str]]:
    """Name and reason of each downstream a digest lists."""
    listed = p.get("downstreams")
    entries = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    return [(str(e.get("downstream", "")), str(e.get("reason", ""))) for e in entries]


def _several(p: Payload) -> bool:
    return p.get("type") in _SEVERAL and p.get("downstream") is None and bool(_named(p))


def _more(p: Payload) -> int:
    more = p.get("more")
    return more if isinstance(more, int) and not isinstance(more, bool) and more > 0 else 0


def _about(p: Payload) -> str:
    """The downstream an alert is about (with its app's name); for a digest, how many."""
    app = p.get("app") if isinstance(p.get("app"), str) else None
    if _several(p):
        count = len(_named(p)) + _more(p)
        return f"{count} downstreams" + (f" of {app}" if app else "")
    name = str(p.get("downstream", ""))
    return f"{app}/{name}" if app else name


def _names(p: Payload) -> str:
    """A digest's downstreams in one line: "crm, billing and 38 more"."""
    names = ", ".join(name for name, _ in _named(p))
    return f"{names} and {_more(p)} more" if _more(p) else names


def headline(p: Payload) -> str:
    if _several(p):
        return _SEVERAL[str(p["type"])].format(_about(p))
    if (alert := _ALERTS.get(str(p.get("type")))) is not None:
        return f"{alert.format(_about(p))}: {p.get('reason')}"
    if _notice(p):
        return f"⚠️ runway-relay stopped delivering to {p['downstream']}: {p['reason']}"
    line = f"{_EMOJI.get(p['state'], '•')} Runway {p['kind']} task {p['task_id']} {p['state']}"
    share = _number(p.get("progress")) if p.get("type") == "task.progress" else None
    return line if share is None else f"{line} {round(min(max(share, 0.0), 1.0) * 100)}%"


def iso(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def facts(p: Payload) -> list[tuple[str, str]]:
    """Label and raw (unescaped) value of each fact the document has."""
    if _notice(p):  # a digest's downstreams, or the one a notice is about
        if _several(p):
            reasons = "; ".join(f"{name}: {why}" for name, why in _named(p))
            found = [("Downstreams", _names(p)), ("Reasons", reasons)]
        else:
            found = [("Downstream", _about(p)), ("Reason", str(p.get("reason")))]
        if since := iso(p.get("failing_since")):
            found.append(("Failing since", since))
        return found
    found = []
    for key, label in (("prompt", "Prompt"), ("model", "Model")):
        value = p.get(key)
        if isinstance(value, str) and value.strip():
            found.append((label, value.strip()))
    if (duration := _number(p.get("duration"))) is not None:
        found.append(("Duration", f"{duration:g} s"))
    if (point := _number(p.get("point"))) is not None:
        cost = f"{point:g} credits"
        if refund := _number(p.get("refund")):
            cost += f" ({refund:g} refunded)"
        found.append(("Cost", cost))
    if isinstance(p.get("upstream_task_id"), str) and p["upstream_task_id"]:
        found.append(("Upstream task", p["upstream_task_id"]))
    return found


def error(p: Payload) -> str | None:
    reason = p.get("error")
    return reason if isinstance(reason, str) and reason else None


def _originals(p: Payload) -> list[str]:
    listed = p.get("outputs")
    return [u for u in listed if isinstance(u, str)] if isinstance(listed, list) else []


def _mirrored(p: Payload) -> dict[str, str]:
    """Original link -> the relay's lasting copy, for each file the mirror kept (the
    document's `"media": {"status": "mirrored", "files": [{"role", "source", "url"}]}`).
    CDN links expire in 24 to 48 hours; a message read later should still play."""
    media = p.get("media")
    if not isinstance(media, dict) or media.get("status") != "mirrored":
        return {}
    files = media.get("files")
    files = [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []
    files = [f for f in files if isinstance(f.get("url"), str)]
    copies = {f["source"]: f["url"] for f in files if isinstance(f.get("source"), str)}
    # A link renewed while copying differs from the document's: pair by role and order.
    thumbnail = p.get("thumbnail")
    posters = [thumbnail] if isinstance(thumbnail, str) else []
    for role, originals in ((output_type(p), _originals(p)), ("poster", posters)):
        kept = [f["url"] for f in files if f.get("role") == role]
        if len(kept) == len(originals):
            for original, copy in zip(originals, kept, strict=True):
                copies.setdefault(original, copy)
    return copies


# What each kind of output is called in a message, and its button.
_NOUNS = {"video": "Video", "image": "Image", "audio": "Audio"}
_PLURALS = {"video": "Videos", "image": "Images", "audio": "Audio"}
_OPEN = {"video": "▶ Open video", "image": "🖼 Open image", "audio": "🔊 Listen"}


def output_type(p: Payload) -> str:
    """`video`, `image` or `audio`: what the task made (documents before `output_type`
    were all videos; an unknown value is never shown as an image)."""
    kind = p.get("output_type")
    return kind if isinstance(kind, str) and kind in _NOUNS else "video"


def noun(p: Payload) -> str:
    return _NOUNS[output_type(p)]


def plural(p: Payload) -> str:
    return _PLURALS[output_type(p)]


def open_label(p: Payload) -> str:
    return _OPEN[output_type(p)]


def outputs(p: Payload) -> list[str]:
    """The output links to show: the relay's copies where there are some."""
    copies = _mirrored(p)
    return [copies.get(url, url) for url in _originals(p)]


def linkable(url: Any, limit: int = MAX_LINK) -> bool:
    return isinstance(url, str) and len(url) <= limit and LINKABLE.fullmatch(url) is not None


def picture(p: Payload) -> str | None:
    """The image a message shows: the first output of an image task, else the poster."""
    if output_type(p) == "image" and (shown := links(p)):
        return shown[0]
    return poster(p)


def poster(p: Payload) -> str | None:
    thumbnail = p.get("thumbnail")
    if isinstance(thumbnail, str):
        thumbnail = _mirrored(p).get(thumbnail, thumbnail)
    return thumbnail if linkable(thumbnail) else None


def links(p: Payload) -> list[str]:
    """The outputs that can be a link target or a button."""
    return [u for u in outputs(p) if linkable(u)]


def output_list(
    p: Payload, link: Callable[[str, str], str], escape: Callable[[str], str]
) -> list[str]:
    """Each output as a link of ours ("Video 2"), or as escaped text when it cannot be a
    link; nothing when the one output is the message's button already."""
    shown = outputs(p)
    if len(shown) == 1 and linkable(shown[0]):
        return []
    label = noun(p)
    return [
        link(f"{label} {i}", url) if linkable(url) else escape(url)
        for i, url in enumerate(shown, 1)
    ]


def plain_lines(p: Payload) -> list[str]:
    """The message as plain lines: headline, reason, outputs, upstream id (raw text)."""
    lines = [headline(p)]
    if reason := error(p):
        lines.append(f"Reason: {reason}")
    lines.extend(f"Output: {url}" for url in outputs(p))
    lines.extend(f"{name}: {why}" for name, why in _named(p) if _several(p))
    if _several(p) and _more(p):
        lines.append(f"and {_more(p)} more")
    if _notice(p):
        if since := iso(p.get("failing_since")):
            lines.append(f"Failing since: {since}")
    elif isinstance(p.get("upstream_task_id"), str) and p["upstream_task_id"]:
        lines.append(f"Upstream id: {p['upstream_task_id']}")
    return lines


# ---------------------------------------------------------------------------------------
# A whole message within a platform's size limit


def fit(
    build: Callable[[Payload, int], Payload],
    p: Payload,
    measure: Callable[[Payload], int],
    limit: int,
) -> Payload:
    """The body of `p` built with the largest text budget (halving from `DETAILS`) that
    keeps `measure(body)` within `limit`; at budget 0 only the headline and links remain,
    which always fit."""
    budget = DETAILS
    while True:
        body = build(p, budget)
        if budget == 0 or measure(body) <= limit:
            return body
        budget = budget // 2 if budget > 64 else 0


def json_bytes(body: Payload) -> int:
    return len(orjson.dumps(body))


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def text_chars(body: Payload) -> int:
    return sum(len(s) for s in strings(body))
