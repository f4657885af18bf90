"""A task: its states and kinds (KINDS: one row a route, which the doors, the client, the
parser, the mirror and the simulator all read), and what CometAPI tells of it. Pure.

CometAPI does not sign its callbacks: the signed URL proves which task a callback is about,
not that the body is true. So a callback is a claim, and gets a verdict from CometAPI's
authenticated answer: confirmed (it agrees), contradicted (it disagrees, finally or past the
corroboration window: a genuine callback can run ahead of the feed), or unconfirmed
(CometAPI could not be asked within the window).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal, cast
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
    """Whether moving from `current` to `new` is progress: states only move forward, so late
    and out-of-order reports are history, not transitions."""
    if current is None:
        return True
    return _RANK[new] > _RANK[current]


def shown_progress(state: str, progress: float | None) -> float | None:
    """The progress a task keeps in `state`: whole once it succeeded (CometAPI's last figure
    is often short of it), none once it ended otherwise."""
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
    # The body's fields for a text prompt and a source URL, which the console's form and
    # the command line fill in.
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


# A route of Runway's own format the table does not know yet (`generate/video`): its creates
# are passed through to CometAPI's same path, and its tasks are of that route's name.
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
    """The kind of a route the table does not know, passed through; else None."""
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
    """What a task of this kind makes (a passed-through kind's: by its first output)."""
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


@dataclass(frozen=True)
class Observation:
    """What one report from upstream says about a task."""

    state: State | None
    upstream_status: str | None = None
    upstream_task_id: str | None = None
    outputs: tuple[str, ...] = ()
    thumbnail: str | None = None
    error: str | None = None
    progress: str | None = None
    # Credits charged and refunded, kept only from authenticated answers that are sane.
    point: float | None = None
    refund: float | None = None
    # When CometAPI says the task was created and last changed (epoch seconds).
    upstream_created_at: float | None = None
    upstream_updated_at: float | None = None
    # Runway's code for a failure (`failureCode`, e.g. `SAFETY.INPUT.TEXT`), when it gave one.
    failure_code: str | None = None


def progress_fraction(text: str | None) -> float | None:
    """Upstream's progress from 0 to 1: CometAPI writes "45%", Runway's format 0.45."""
    if text is None:
        return None
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    if percent or value > 1:
        value /= 100
    return min(value, 1.0)


# CometAPI prices one Runway render in points in the hundreds. A figure past this bound is
# no price but a fault or a forgery, and a single one would swamp every sum over the tasks.
MAX_CREDITS = 1_000_000.0


def sane_credits(obs: Observation) -> tuple[Observation, dict[str, str]]:
    """`obs` without a credit figure that cannot be a price, and those dropped."""
    refused = {
        name: str(value)
        for name, value in (("point", obs.point), ("refund", obs.refund))
        if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_CREDITS)
    }
    if not refused:
        return obs, refused
    point = None if "point" in refused else obs.point
    refund = None if "refund" in refused else obs.refund
    return replace(obs, point=point, refund=refund), refused


Verdict = Literal["confirmed", "contradicted", "unconfirmed"]
PENDING = "pending"


@dataclass(frozen=True)
class Claim:
    """What one stored callback said about its task."""

    event_id: str
    state: str | None
    outputs: tuple[str, ...]
    received_at: float


def _where(url: str) -> tuple[str, str, str]:
    # Runway's CDN links are signed and re-signed on each fetch: the same file can come back
    # with another query string, so a video is the same one when its place is.
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower(), parts.path


def _same_videos(claimed: tuple[str, ...], answered: tuple[str, ...]) -> bool:
    known = {_where(url) for url in answered}
    return all(_where(url) in known for url in claimed)


def judge(claim: Claim, answer: Observation | None, now: float, window: float) -> Verdict | None:
    """The claim's verdict given CometAPI's answer (None: no answer), or None to ask again."""
    expired = now - claim.received_at >= window
    if answer is None or answer.state is None:
        return "unconfirmed" if expired else None
    if claim.state is None:
        return "confirmed"  # a hint with no claim of its own ("something changed"): answered
    if claim.state in TERMINAL_STATES:
        if answer.state == claim.state and _same_videos(claim.outputs, answer.outputs):
            return "confirmed"
        if answer.state in TERMINAL_STATES or expired:
            return "contradicted"
        return None
    if not advances(answer.state, claim.state):
        return "confirmed"  # CometAPI is at the claimed state or past it
    return "contradicted" if expired else None


def claim_of(callback: Observation) -> Observation:
    """What a callback's body may claim: a state and its outputs, never credits (not even
    under `trust_body`): cost is only CometAPI's authenticated answer's."""
    return replace(callback, point=None, refund=None)


def retry_delay(claim_age: float) -> float:
    """When to ask again about an unsettled claim: about half its age, 0.25 to 10 s."""
    return min(10.0, max(0.25, claim_age / 2))


@dataclass(frozen=True)
class ClaimPolicy:
    """How callbacks are weighed (the `callbacks` config section)."""

    trust_body: bool  # apply a callback's state at once, unconfirmed (opt-in, risky)
    window: float  # how long a claim may wait for CometAPI to agree
    min_poll_gap: float  # the fewest seconds between two polls a callback may cause
    max_count: int  # callback bodies kept per task...
    max_bytes: int  # ...and their bytes; past either, a callback is a hint only


def over_history_bound(count: int, stored_bytes: int, size: int, policy: ClaimPolicy) -> bool:
    """Past the task's bound, a callback is not stored: it only brings the poll forward."""
    return count >= policy.max_count or stored_bytes + size > policy.max_bytes


def poll_due(now: float, last_polled_at: float | None, policy: ClaimPolicy) -> float:
    """When a callback's poll is due: now, but `min_poll_gap` after the last poll at the
    soonest (a flood of callbacks is not a flood of polls)."""
    return max(now, (last_polled_at or 0.0) + policy.min_poll_gap)


def judge_on_ended(
    task_state: str, task_outputs: list[str], claim: Observation, now: float
) -> Verdict | None:
    """A claim on an ended task, judged at once against what CometAPI said when it ended."""
    known = Observation(state=cast(State, task_state), outputs=tuple(task_outputs))
    return judge(Claim("", claim.state, claim.outputs, now), known, now, window=0.0)


@dataclass
class Settlement:
    """What one poll's answer does to the task's pending claims."""

    verdicts: list[tuple[Claim, Verdict]] = field(default_factory=list)
    waiting_since: float | None = None  # the oldest claim still unsettled


def settle(
    claims: list[Claim],
    answer: Observation | None,
    now: float,
    window: float,
    polled_again: bool,
) -> Settlement:
    """Judge each pending claim by CometAPI's answer; with no further poll coming
    (`polled_again` false), one that cannot be judged yet is `unconfirmed`."""
    out = Settlement()
    for claim in claims:
        verdict = judge(claim, answer, now, window)
        if verdict is None and not polled_again:
            verdict = "unconfirmed"  # no further poll will come to settle it
        if verdict is None:
            out.waiting_since = out.waiting_since or claim.received_at
            continue
        out.verdicts.append((claim, verdict))
    return out


def next_poll(
    now: float, scheduled: float | None, waiting_since: float | None, ended: bool
) -> float | None:
    """When to ask CometAPI next: an unsettled claim brings the scheduled poll closer; an
    ended task with nothing left to settle is not asked again."""
    if waiting_since is not None and scheduled is not None:
        return min(scheduled, now + retry_delay(now - waiting_since))
    return None if ended else scheduled


# --- failed renders ----------------------------------------------------------------------
# Runway's failure codes: `INTERNAL.BAD_OUTPUT.*` and `INTERNAL` may come out right when run
# again; `SAFETY.*` never will, nor will input errors (`INPUT_PREPROCESSING.*`, `ASSET.*`).


def worth_resubmitting(code: str | None) -> bool:
    return code is not None and (code == "INTERNAL" or code.startswith("INTERNAL.BAD_OUTPUT."))


def resubmit(code: str | None, resubmits_done: int, allowed: int) -> bool:
    """Whether a task that failed upstream with `code` is sent again as a new upstream task."""
    return resubmits_done < allowed and worth_resubmitting(code)


# Most specific first: a code takes the message of the first prefix it starts with. Runway
# advises against showing its raw failure text to end users; these say what they can do.
_MESSAGES: tuple[tuple[str, str], ...] = (
    ("SAFETY.OUTPUT.", "The result was withheld by content moderation."),
    ("SAFETY.", "The request was declined by content moderation."),
    ("INPUT_PREPROCESSING.SAFETY.", "The request was declined by content moderation."),
    ("INPUT_PREPROCESSING.", "The input could not be processed. Check the source and retry."),
    ("ASSET.", "The input file is not valid. Check its format, length and size."),
    ("INTERNAL.BAD_OUTPUT.", "The render did not come out right. Trying again may work."),
    ("INTERNAL", "The provider had an internal error. Trying again may work."),
)
DEFAULT_FAILURE_MESSAGE = "The render could not be completed."


def failure_message(code: str | None) -> str:
    """A short message about a failed task, safe to show an end user."""
    for prefix, message in _MESSAGES:
        if code is not None and code.startswith(prefix):
            return message
    return DEFAULT_FAILURE_MESSAGE
