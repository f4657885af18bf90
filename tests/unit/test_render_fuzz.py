"""Whatever text a document holds, every chat format renders it within its platform's
shape and limits (the stand-ins of tests/unit/test_render_<platform>.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.destinations.registry import render
from tests.unit.render_specs import SPECS
from tests.unit.test_render_common import TELEGRAM_URL, document
from tests.unit.test_render_telegram import telegram_spec

MARKUP = "<>&@[]()|*_~`#!:\\\"' \n/"
texts = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(MARKUP), max_size=3000)
urls = st.builds(
    lambda path, tail: f"https://cdn.test.invalid/{path}{tail}",
    st.text(alphabet="abc/?=&%-._~", max_size=200),
    st.sampled_from(["", ".mp4", "|x>", ")", " y", "\"'", "[1]"]),
)
video_documents = st.builds(
    lambda error, prompt, model, up, outs, thumb, state, point: document(
        error=error or None,
        prompt=prompt,
        model=model,
        upstream_task_id=up or None,
        outputs=outs,
        thumbnail=thumb,
        state=state,
        point=point,
    ),
    texts,
    texts,
    st.text(max_size=300),
    st.text(max_size=300),
    st.lists(urls | texts, max_size=60),
    st.none() | urls | texts,
    st.sampled_from(["succeeded", "failed", "cancelled", "running"]),
    st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
)
# Any output type a document may say, an unknown or missing one included.
documents = st.builds(
    lambda doc, made: {**doc, "output_type": made},
    video_documents,
    st.sampled_from(["video", "image", "audio", None, "model"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_renders_within_every_platforms_limits(doc: dict[str, Any]) -> None:
    for fmt, spec in SPECS.items():
        spec(json.loads(render(fmt, doc).body))
    rendered = render("telegram", doc, TELEGRAM_URL)
    telegram_spec(rendered.path, json.loads(rendered.body))
