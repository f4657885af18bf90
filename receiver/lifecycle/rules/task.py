"""What a task is: its canonical states, and how every upstream status word maps onto
them; and its kind, in one table: where CometAPI takes it, at which doors the relay takes
it, whether CometAPI calls back or is only polled, how its answers read, and what it makes.

A route Runway ships next month is one row of KINDS (and one test): the doors, the client,
the parser, the mirror and the simulator all read this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]

STATES: tuple[State, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

# Words seen across the reverse (feed/callback) and official (runwayml) formats.
_UPSTREAM_WORDS: dict[str, State] = {
    "not_start": "queued",
    "not_started": "queued",
    "submitted": "queued",
    "queued": "queued",
    "queueing": "queued",
    "pending": "queued",
    "waiting": "queued",
    "throttled": "queued",
    "in_progress": "running",
    "processing": "running",
    "running": "running",
    "started": "running",
    "success": "succeeded",
    "succeeded": "succeeded",
    "succeed": "succeeded",
    "completed": "succeeded",
    "complete": "succeeded",
    "finished": "succeeded",
    "failure": "failed",
    "failed": "failed",
    "fail": "failed",
    "error": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "aborted": "cancelled",
}

_RANK: dict[str, int] = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2, "cancelled": 2}


def map_upstream(word: object) -> State | None:
    """Canonical state for an upstream status word, or None when the word is unknown."""
    if not isinstance(word, str):
        return None
    return _UPSTREAM_WORDS.get(word.strip().lower().replace(" ", "_").replace("-", "_"))


def advances(current: str | None, new: str) -> bool:
    """Whether moving from `current` to `new` is progress.

    States only move forward (queued -> running -> terminal); a terminal state never changes,
    so late, duplicate and out-of-order reports are history, not transitions.
    """
    if current is None:
        return True
    return _RANK[new] > _RANK[current]


def shown_progress(state: str, progress: float | None) -> float | None:
    """The progress a task keeps once it reaches `state`: whole once it succeeded
    (CometAPI's last figure before the end is often short of it), none once it ended
    otherwise (no partial figure for an ended task), as last reported while it runs."""
    if state == "succeeded":
        return 1.0
    if state in TERMINAL_STATES:
        return None
    return progress


Output = Literal["video", "image", "audio"]
# `official`: Runway's own format (`/runwayml/v1/...`, answered `{id}`, polled at
# `GET /runwayml/v1/tasks/{id}`). `reverse`: CometAPI's callback routes (`/runway/pro/...`,
# answered in the `{code, msg, data}` envelope, polled at `POST /runway/feed`).
Form = Literal["official", "reverse"]


@dataclass(frozen=True)
class TaskKind:
    name: str
    route: str  # CometAPI's path for a create
    form: Form
    output: Output
    front_door: bool  # taken at `/runwayml/v1/<name>` as well as `POST /v1/tasks`
    # The body's field for a text prompt, and for the one URL of its source (a video, image
    # or sound), where the route has them: what the console's form and the command line
    # fill in. Every other field is given as the body's JSON.
    prompt: str | None = None
    source: str | None = None

    @property
    def callback(self) -> bool:
        """CometAPI calls back (the relay sends its signed `callback_url`)."""
        return self.form == "reverse"

    @property
    def cancellable(self) -> bool:
        """CometAPI documents a cancel (`DELETE /runwayml/v1/tasks/{id}`) only for these."""
        return self.form == "official"


def _official(
    name: str, output: Output, prompt: str | None = None, source: str | None = None
) -> TaskKind:
    route = f"/runwayml/v1/{name}"
    return TaskKind(name, route, "official", output, True, prompt, source)


def _reverse(name: str, prompt: str | None = None, source: str | None = None) -> TaskKind:
    return TaskKind(name, f"/runway/pro/{name}", "reverse", "video", False, prompt, source)


KINDS: dict[str, TaskKind] = {
    kind.name: kind
    for kind in (
        _official("image_to_video", "video", "promptText", "promptImage"),
        _official("video_to_video", "video", "promptText", "videoUri"),
        _official("text_to_video", "video", "promptText"),
        _official("text_to_image", "image", "promptText"),
        _official("character_performance", "video"),
        _official("video_upscale", "video", source="videoUri"),
        _official("image_upscale", "image", source="imageUri"),
        _official("sound_effect", "audio", "promptText"),
        _official("text_to_speech", "audio", "promptText"),
        _official("speech_to_speech", "audio"),
        _official("voice_dubbing", "audio", source="audioUri"),
        _official("voice_isolation", "audio", source="audioUri"),
        _official("video_to_audio", "audio", "promptText", "videoUri"),
        _reverse("video2video", "prompt", "video"),
        _reverse("generate", "prompt"),
        _reverse("act_one"),
    )
}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)
FRONT_DOOR: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.front_door)
# The file the relay may copy for each output type, by content type, and the suffix it
# stores each under. A render of another type is not copied.
CONTENT_TYPES: dict[str, tuple[Output, str]] = {
    "video/mp4": ("video", ".mp4"),
    "video/webm": ("video", ".webm"),
    "image/png": ("image", ".png"),
    "image/jpeg": ("image", ".jpg"),
    "image/webp": ("image", ".webp"),
    "audio/mpeg": ("audio", ".mp3"),
    "audio/wav": ("audio", ".wav"),
    "audio/x-wav": ("audio", ".wav"),
    "audio/wave": ("audio", ".wav"),
    "audio/ogg": ("audio", ".ogg"),
}


def kind_of(name: object) -> TaskKind | None:
    return KINDS.get(name) if isinstance(name, str) else None


# A route of Runway's own format the table does not know yet (`video_to_hdr`,
# `generate/video`, `recipes/product_ad`): its creates are passed through to CometAPI's same
# path as sent, and its tasks are of that route's name.
ROUTE_PATTERN = r"[a-z][a-z0-9_]{0,47}(?:/[a-z][a-z0-9_]{0,47}){0,2}"
_ROUTE_NAME = re.compile(ROUTE_PATTERN)
# Runway's routes that make no task (management, sessions, reads): never passed through.
NOT_TASK_ROUTES = (
    "tasks",
    "uploads",
    "organization",
    "workflows",
    "workflow_invocations",
    "realtime_sessions",
    "voices",
    "avatars",
    "avatar_conversations",
    "avatar_usage",
    "documents",
    "routers",
)
# The names passed-through kinds may have, as a JSON Schema pattern (the shape of a route:
# a name of NOT_TASK_ROUTES fits it, and is never a task's kind).
PASSED_PATTERN = f"^{ROUTE_PATTERN}$"


def passed_through(name: object) -> TaskKind | None:
    """The kind of a route the table does not know, taken at the front door and passed
    through; None for a name of the table, a route that makes no task, or no route name."""
    if not isinstance(name, str) or name in KINDS or not _ROUTE_NAME.fullmatch(name):
        return None
    if name.split("/", 1)[0] in NOT_TASK_ROUTES:
        return None
    return TaskKind(name, f"/runwayml/v1/{name}", "official", "video", True)


def is_route_name(name: str) -> bool:
    """Shaped as a route of Runway's (what a passed-through kind's name may be)."""
    return _ROUTE_NAME.fullmatch(name) is not None


# CometAPI's statuses for a create on a route it does not serve.
NOT_SERVED = (404, 405)


def is_passed_through(name: str) -> bool:
    return passed_through(name) is not None


def route_of(name: str) -> str:
    """CometAPI's path for a create of this kind (KeyError: no such kind)."""
    kind = KINDS.get(name) or passed_through(name)
    if kind is None:
        raise KeyError(name)
    return kind.route


def is_callback(name: str) -> bool:
    kind = KINDS.get(name)
    return kind is not None and kind.callback


def output_of(name: str, outputs: tuple[str, ...] | list[str] = ()) -> Output:
    """What a task of this kind makes. A passed-through kind's is read from its answer (the
    first output's suffix); a kind the table no longer has, or no answer yet: a video."""
    kind = KINDS.get(name)
    if kind is not None:
        return kind.output
    for url in outputs[:1]:
        try:
            path = urlsplit(url).path.lower()
        except ValueError:
            break
        found = (made for _, (made, ext) in CONTENT_TYPES.items() if path.endswith(ext))
        return next(found, "video")
    return "video"


def content_type_of(suffix: str) -> str:
    """The content type a stored copy is served with, by its suffix."""
    found = (ct for ct, (_, ext) in CONTENT_TYPES.items() if ext == suffix.lower())
    return next(found, "application/octet-stream")


def output_type_of(content_type: str) -> Output | None:
    known = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
    return known[0] if known else None
