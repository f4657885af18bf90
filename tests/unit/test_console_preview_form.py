"""How the console's downstream form writes a filter, a transform and headers: the lines of
its headers field, the empty fields left out, and the event the preview is asked for."""

from __future__ import annotations

import pytest

from receiver.console.preview import EXAMPLE_TYPES, header_lines, preview_payload
from receiver.kernel.errors import InvalidRequest
from receiver.lifecycle.rules.catalog import EVENT_TYPES

pytestmark = pytest.mark.unit


def test_header_lines_read_name_and_value_and_skip_blank_lines() -> None:
    text = "Authorization: Bearer a:b\n\n  X-Team :  render  \r\n"
    assert header_lines(text) == {"Authorization": "Bearer a:b", "X-Team": "render"}
    assert header_lines("") == {}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Bearer hidden-value", "line 1 is not written"),
        ("A: 1\n: hidden-value", "line 2 is not written"),
        ("X-Key: 1\nx-key: hidden-value", "x-key is given twice"),
        ("\n".join(f"H{i}: v" for i in range(21)), "at most 20"),
    ],
)
def test_a_bad_header_line_is_named_by_its_number_never_its_value(text: str, said: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        header_lines(text)
    assert said in refused.value.detail and "hidden-value" not in refused.value.detail


def test_the_preview_payload_leaves_out_empty_fields_and_prefers_a_task() -> None:
    fields = {"filter": "  ", "transform": "{}", "headers": "", "format": "webhook"}
    assert preview_payload({**fields, "type": "task.failed", "task_id": " "}) == {
        "transform": "{}",
        "format": "webhook",
        "type": "task.failed",
    }
    assert preview_payload({**fields, "type": "task.failed", "task_id": "tsk_1"}) == {
        "transform": "{}",
        "format": "webhook",
        "task_id": "tsk_1",
    }
    assert preview_payload({"filter": 3, "headers": ["x"]}) == {}  # not text: not given


def test_the_form_offers_every_event_type_the_finished_one_first() -> None:
    assert EXAMPLE_TYPES[0] == "task.succeeded" and sorted(EXAMPLE_TYPES) == sorted(EVENT_TYPES)
