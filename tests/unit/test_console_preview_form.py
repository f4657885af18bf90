"""How the console's downstream form writes a filter, a transform and headers: the lines of
its headers field, the empty fields left out, and the event the preview is asked for."""

from __future__ import annotations

import pytest

from receiver.console import endpoint_form
from receiver.console.apps_page import next_key_name
from receiver.console.endpoint_form import EXAMPLE_TYPES, header_lines, preview_payload
from receiver.kernel.errors import InvalidRequest
from receiver.outbox.rules.event_types import EVENT_TYPES

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


def test_the_preview_is_asked_for_the_downstream_being_changed() -> None:
    asked = preview_payload({"filter": "true", "type": "", "downstream": "crm"})
    assert asked == {"filter": "true", "downstream": "crm"}


def test_an_edit_form_changes_what_it_shows_and_keeps_the_secrets_left_empty() -> None:
    form = {
        "events": "succeeded, failed",
        "channels": "",
        "filter": "  ",
        "transform": '{"a": 1}',
        "headers": "",
        "max_per_second": "",
        "auth_type": "bearer",
        "auth_type_was": "bearer",
        "auth_token": "",
        "tls_client_cert": "PEM",
        "tls_client_key": "",
        "tls_ca": "",
        "proxy": "http://u:***@proxy.example:3128",
    }
    change = endpoint_form.change_of(form)
    assert change == {
        "events": ["succeeded", "failed"],
        "channels": [],
        "filter": None,  # emptied: unset
        "transform": '{"a": 1}',
        "max_per_second": None,
        "auth": {"type": "bearer", "token": "***"},  # left empty: kept
        "tls": {"client_cert": "PEM", "client_key": "***"},
    }  # no headers typed: kept; the proxy shown masked: kept
    cleared = endpoint_form.change_of({**form, "headers_clear": "on", "proxy": ""})
    assert cleared["headers"] == {} and cleared["proxy"] is None
    # Another kind of auth keeps no secret: an empty one is refused where it is checked.
    other = endpoint_form.change_of({**form, "auth_type": "basic", "auth_username": "u"})
    assert other["auth"] == {"type": "basic", "username": "u"}
    assert endpoint_form.change_of({**form, "auth_type": "none"})["auth"] is None
    assert endpoint_form.change_of({"events": "", "channels": "a"}) == {
        "events": [],
        "channels": ["a"],
    }
    assert endpoint_form.change_of({"max_per_second": "2"}) == {"max_per_second": "2"}


def test_a_new_endpoints_credentials_are_those_given_and_never_kept_on_a_page() -> None:
    form = {"auth_type": "basic", "auth_username": "u", "auth_password": "hidden", "proxy": ""}
    assert endpoint_form.credentials(form) == {
        "auth": {"type": "basic", "username": "u", "password": "hidden"}
    }
    assert "hidden" not in str(endpoint_form.kept_fields(form))
    proxied = {**form, "proxy": "http://user:hidden@proxy.example:3128"}
    assert endpoint_form.kept_fields(proxied)["proxy"] == ""
    plain = {**form, "proxy": "http://proxy.example:3128"}
    assert endpoint_form.kept_fields(plain)["proxy"] == "http://proxy.example:3128"
    with pytest.raises(InvalidRequest, match=r"auth\.type"):
        endpoint_form.credentials({"auth_type": "digest"})


def test_a_rotated_key_takes_the_next_free_name() -> None:
    assert next_key_name("render", set()) == "render-2"
    assert next_key_name("render-2", {"render-3"}) == "render-4"
    assert len(next_key_name("x" * 64, set())) == 64
