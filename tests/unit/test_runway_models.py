"""Runway's models per route (receiver/runway_api/models.py) against the installed SDK's
own type definitions, the routes passed through (receiver/lifecycle/rules/task.py), and the
usage
answer built from the relay's records."""

from __future__ import annotations

import re
import typing
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.lifecycle.rules.task import (
    KINDS,
    NOT_TASK_ROUTES,
    PASSED_PATTERN,
    is_passed_through,
    output_of,
    passed_through,
    route_of,
)
from receiver.runway_api import shape
from receiver.runway_api.models import MODELS_BY_ROUTE, USAGE_MODELS, model_error, models_of
from tests.unit.test_runway_shape import TASK

pytestmark = pytest.mark.unit


def _sdk_types() -> Any:
    """Runway's SDK types: a test tool of the dev install, so the core install's unit run
    skips the tests that read them (each test, so that each is counted)."""
    return pytest.importorskip("runwayml.types")


def _usage_types() -> Any:
    return pytest.importorskip("runwayml.types.organization_retrieve_usage_response")


def _sdk_models(route: str) -> set[str]:
    """The `model` literals of the SDK's create parameters for a route."""
    stem = {"avatar_videos": "avatar_video"}.get(route, route)  # the SDK's singular
    source = (Path(_sdk_types().__file__).parent / f"{stem}_create_params.py").read_text()
    found: set[str] = set()
    for literal in re.finditer(r"model: (?:Required\[)?Literal\[([^\]]*)\]", source):
        found |= set(re.findall(r'"([^"]+)"', literal[1]))
    return found


@pytest.mark.parametrize("route", sorted(MODELS_BY_ROUTE))
def test_the_table_holds_every_model_the_sdk_types_for_a_route(route: str) -> None:
    sdk, _ = MODELS_BY_ROUTE[route]
    assert set(sdk) == _sdk_models(route)


def test_cometapis_own_names_are_kept_beside_the_sdks() -> None:
    assert "gen4_aleph" in (models_of("video_to_video") or ())
    assert "gen3a_turbo" in (models_of("image_to_video") or ())
    assert (models_of("video_to_video") or ())[0] == "aleph2"  # the SDK's own first


def test_a_model_neither_knows_is_refused_and_an_unlisted_route_is_not_judged() -> None:
    assert model_error("video_to_video", "aleph2") is None
    assert model_error("video_to_video", "gen4_aleph") is None
    assert "not available for video_to_video" in (model_error("video_to_video", "gen9") or "")
    assert model_error("image_to_video", None) == "model is required"
    assert model_error("generate/video", None) is None  # Runway's model router takes none


def test_usage_models_are_the_sdks_strict_list() -> None:
    annotation = _usage_types().ResultUsedCredit.model_fields["model"].annotation
    assert set(typing.get_args(annotation)) == USAGE_MODELS


def test_routes_the_table_does_not_know_are_passed_through() -> None:
    for name in ("video_to_hdr", "generate/video", "recipes/marketing_stock_image"):
        kind = passed_through(name)
        assert kind is not None and kind.form == "official" and not kind.callback
        assert route_of(name) == f"/runwayml/v1/{name}" and re.match(PASSED_PATTERN, name)
    for name in (*KINDS, *NOT_TASK_ROUTES, "voices/preview", "../x", "A", "a//b", "", "a/b/c/d"):
        assert not is_passed_through(name), name
    with pytest.raises(KeyError):
        route_of("voices")


def test_a_passed_through_kinds_output_is_read_from_its_answer() -> None:
    assert output_of("video_to_hdr") == "video"
    assert output_of("recipes/marketing_stock_image", ["https://cdn.example/a/b.PNG?x=1"]) == (
        "image"
    )
    assert output_of("generate/audio", ["https://cdn.example/a.mp3"]) == "audio"
    assert output_of("text_to_image", ["https://cdn.example/a.mp4"]) == "image"  # the table's


def test_usage_lists_every_day_and_the_credits_per_model() -> None:
    day = datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()
    base = TASK
    tasks = [
        replace(base, request={"model": "gen4.5"}, created_at=day, point=50.0, refund=None),
        replace(base, request={"model": "gen4.5"}, created_at=day, point=30.0, refund=30.0),
        replace(base, request={"model": "seed_audio"}, created_at=day + 86400, point=7.0),
        replace(base, request={"model": "not_runways"}, created_at=day, point=9.0),
        replace(base, request={"model": "gen4.5"}, created_at=day - 86400, point=1.0),
    ]
    first, end = shape.usage_window(date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 9))
    answer = shape.usage(tasks, first, end, USAGE_MODELS)
    # The SDK's own strict model.
    _usage_types().OrganizationRetrieveUsageResponse.model_validate(answer)
    assert answer["models"] == ["gen4.5", "seed_audio"]
    assert [d["date"] for d in answer["results"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert answer["results"][0]["usedCredits"] == [{"amount": 50, "model": "gen4.5"}]
    assert answer["results"][1]["usedCredits"] == [{"amount": 7, "model": "seed_audio"}]


def test_the_usage_window_is_runways() -> None:
    today = date(2026, 3, 31)
    assert shape.usage_window(None, None, today) == (date(2026, 3, 1), date(2026, 3, 31))
    with pytest.raises(ValueError, match="90 days"):
        shape.usage_window(date(2026, 1, 1), date(2026, 6, 1), today)
    with pytest.raises(ValueError, match="after startDate"):
        shape.usage_window(date(2026, 1, 2), date(2026, 1, 2), today)
