"""The table of task kinds: every kind Runway's SDKs create, and CometAPI's callback routes."""

from __future__ import annotations

import pytest

from receiver.lifecycle.rules.routing import event_document
from receiver.lifecycle.rules.task import (
    CONTENT_TYPES,
    FRONT_DOOR,
    KINDS,
    content_type_of,
    is_callback,
    kind_of,
    output_of,
    output_type_of,
)

pytestmark = pytest.mark.unit

# Runway's task-creating routes, as its SDKs (Python 5.x, Node 4.x) name them.
RUNWAY_ROUTES = {
    "image_to_video": "video",
    "video_to_video": "video",
    "text_to_video": "video",
    "text_to_image": "image",
    "character_performance": "video",
    "video_upscale": "video",
    "image_upscale": "image",
    "sound_effect": "audio",
    "text_to_speech": "audio",
    "speech_to_speech": "audio",
    "voice_dubbing": "audio",
    "voice_isolation": "audio",
    "video_to_audio": "audio",
}


def test_every_runway_route_is_taken_at_the_front_door_with_its_output() -> None:
    assert set(FRONT_DOOR) == set(RUNWAY_ROUTES)
    for name, output in RUNWAY_ROUTES.items():
        kind = KINDS[name]
        assert (kind.route, kind.form, kind.output) == (f"/runwayml/v1/{name}", "official", output)
        assert kind.cancellable and not kind.callback


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("video2video", "/runway/pro/video2video"),
        ("generate", "/runway/pro/generate"),
        ("act_one", "/runway/pro/act_one"),
    ],
)
def test_callback_kinds_are_cometapis_reverse_routes(name: str, route: str) -> None:
    kind = KINDS[name]
    assert (kind.route, kind.output, kind.front_door) == (route, "video", False)
    assert is_callback(name) and not kind.cancellable


def test_unknown_kinds() -> None:
    assert kind_of("text_to_hologram") is None and kind_of(3) is None
    assert not is_callback("text_to_hologram")
    assert output_of("a_kind_since_removed") == "video"


@pytest.mark.parametrize(
    ("content_type", "output", "suffix"),
    [
        ("image/png", "image", ".png"),
        ("image/jpeg", "image", ".jpg"),
        ("image/webp", "image", ".webp"),
        ("audio/mpeg", "audio", ".mp3"),
        ("audio/wav", "audio", ".wav"),
        ("audio/ogg", "audio", ".ogg"),
        ("video/mp4", "video", ".mp4"),
    ],
)
def test_copies_keep_their_type(content_type: str, output: str, suffix: str) -> None:
    assert CONTENT_TYPES[content_type] == (output, suffix)
    assert content_type_of(suffix) == content_type
    assert output_type_of(f"{content_type}; charset=binary") == output


def test_a_stored_file_of_no_known_type_is_served_as_bytes() -> None:
    assert content_type_of(".exe") == "application/octet-stream"
    assert output_type_of("text/html") is None


class _Task:
    id, upstream_task_id, outputs, thumbnail = "tsk_1", "u", ["https://x/a.mp3"], None
    point = refund = None
    metadata = None

    def __init__(self, kind: str) -> None:
        self.kind = kind


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_event_document_says_the_output_type(name: str) -> None:
    from receiver.lifecycle.rules.task import Observation

    document = event_document(_Task(name), "evt_1", Observation(state="running"), "poll", 1.0)
    assert document["output_type"] == KINDS[name].output
