"""CometAPI's published request limits: each ``*_error`` returns why CometAPI would refuse
the body, or None."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from receiver.runway_api.models import model_error

_RATIO = re.compile(r"\d+:\d+")
_DATA_URI = re.compile(r"data:[\w.+-]+/[\w.+-]+;base64,")
_I2V_RATIOS = ("1280:768", "768:1280", "1280:720", "720:1280")


def is_int(value: object) -> bool:
    # bool is an int subclass, but true/false is never a meaningful count or status.
    return isinstance(value, int) and not isinstance(value, bool)


def missing(body: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = body.get(key)
        if not isinstance(value, str) or not value.strip():
            return f"{key} is required"
    return None


def video2video_error(body: dict[str, Any]) -> str | None:
    """``POST /runway/pro/video2video``."""
    if reason := callback_kind_error(body):
        return reason
    if not _is_url(body.get("video")):
        return "video must be an http(s) URL"
    if reason := _text_error(body, "prompt", 2000, required=True):
        return reason
    if reason := missing(body, ("model",)):
        return reason
    return _options_error(body.get("options"))


def official_kind_error(body: dict[str, Any]) -> str | None:
    """Any other official route: the simulator checks only that a model is named."""
    return missing(body, ("model",))


def callback_kind_error(body: dict[str, Any]) -> str | None:
    """``POST /runway/pro/generate`` and ``/runway/pro/act_one``."""
    if missing(body, ("callback_url",)):
        return "callback_url_empty"  # CometAPI's own answer
    if not _is_url(body["callback_url"]):
        return "callback_url must be an http(s) URL"
    return None


def video_to_video_error(body: dict[str, Any]) -> str | None:
    """``POST /runwayml/v1/video_to_video``."""
    if not _is_source(body.get("videoUri"), ("https",)):
        return "videoUri must be an https URL or a base64 data URI"
    if reason := _text_error(body, "promptText", 1000, required=True):
        return reason
    if reason := _int_error(body, "seed", 4294967295):
        return reason
    if reason := model_error("video_to_video", body.get("model")):
        return reason  # Runway's SDK's names and CometAPI's (receiver/runway_api/models.py)
    ratio = body.get("ratio")
    if ratio is not None and (not isinstance(ratio, str) or not _RATIO.fullmatch(ratio)):
        return "ratio must be colon-separated, e.g. 1280:720"
    references = body.get("references")
    if references is not None and not (
        isinstance(references, list) and all(map(_is_reference, references))
    ):
        return 'references must be a list of {"type": "image", "uri": <https or data URI>}'
    moderation = body.get("contentModeration")
    if moderation is not None and not isinstance(moderation, dict):
        return "contentModeration must be an object"
    return None


def image_to_video_error(body: dict[str, Any]) -> str | None:
    """``POST /runwayml/v1/image_to_video``."""
    # CometAPI passes the body on to Runway, which takes a base64 data URI as well as a
    # URL: the relay sends an SDK upload (`runway://`) as one.
    if not _is_source(body.get("promptImage")):
        return "promptImage must be an http(s) URL or a base64 data URI"
    if reason := missing(body, ("model",)):
        return reason
    if reason := _text_error(body, "promptText", 512, required=False):
        return reason
    if reason := _int_error(body, "seed", 999999999):
        return reason
    duration = body.get("duration")
    if duration is not None and not (is_int(duration) and duration in (5, 10)):
        return "duration must be 5 or 10"
    ratio = body.get("ratio")
    if ratio is not None and ratio not in _I2V_RATIOS:
        return f"ratio must be one of {', '.join(_I2V_RATIOS)}"
    if body.get("watermark") is not None and not isinstance(body["watermark"], bool):
        return "watermark must be true or false"
    return None


def _is_url(value: object, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme in schemes and bool(parts.hostname)


def _is_source(value: object, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    """A URL, or a file given inline as a base64 data URI (Runway's two ways to name one)."""
    return _is_url(value, schemes) or (isinstance(value, str) and bool(_DATA_URI.match(value)))


def _text_error(body: dict[str, Any], key: str, limit: int, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        kind = "a non-empty string" if required else "a string"
        return f"{key} must be {kind} of at most {limit} characters"
    return None


def _int_error(body: dict[str, Any], key: str, high: int) -> str | None:
    value = body.get(key)
    if value is None or (is_int(value) and 0 <= value <= high):
        return None
    return f"{key} must be an integer from 0 to {high}"


def _is_reference(item: object) -> bool:
    return (
        isinstance(item, dict)
        and item.get("type") == "image"
        and _is_source(item.get("uri"), ("https",))
    )


def _options_error(options: object) -> str | None:
    if options is None:
        return None
    if not isinstance(options, dict):
        return "options must be an object"
    strength = options.get("structure_transformation")
    if strength is not None and not (
        isinstance(strength, int | float) and not isinstance(strength, bool) and 0 <= strength <= 1
    ):
        return "options.structure_transformation must be a number from 0 to 1"
    if "flip" in options and not isinstance(options["flip"], bool):
        return "options.flip must be true or false"
    return None
