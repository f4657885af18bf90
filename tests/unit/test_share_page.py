"""A share link's page, the library alone: what its token carries, what it shows of a task
(the safe failure words, the prompt only when allowed), the per-app look and its checks,
the page's CSP, and the pages of a link that does not open."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.config.sections import MediaConfig, ServerConfig, ShareLook
from receiver.lifecycle.rules.records import Task
from receiver.lifecycle.rules.task import failure_message
from receiver.shares.links import SharedLink, ShareRefused, ShareSigner
from receiver.shares.page import CLOSED, favicon, page_headers, render_closed, render_page
from receiver.shares.share import prompt_of, shared_view
from receiver.tasks.reads import TaskHistory

pytestmark = pytest.mark.unit
RAW = "Internal error while rendering the video"


def task(**extra: Any) -> Task:
    fields: dict[str, Any] = {
        "id": "tsk_1",
        "kind": "text_to_image",
        "state": "succeeded",
        "upstream_task_id": "up-1",
        "upstream_status": "SUCCEEDED",
        "request": {"promptText": "a red fox <b>bold</b>", "model": "gen4_image"},
        "outputs": ["https://cdn.example/out.png"],
        "thumbnail": None,
        "error": None,
        "created_at": 100.0,
        "updated_at": 110.0,
        "terminal_at": 110.0,
        "next_poll_at": None,
        "poll_attempts": 1,
    }
    return Task(**(fields | extra))


def detail(t: Task, documents: dict[str, Any] | None = None) -> TaskHistory:
    return TaskHistory(t, [], [], [], [], documents or {})


def link(**extra: Any) -> SharedLink:
    fields: dict[str, Any] = {
        "task_id": "tsk_1",
        "key_id": "key_1",
        "expires_at": 2000.0,
        "link_id": "l1",
        "app": "acme",
    }
    return SharedLink(**(fields | extra))


def test_a_token_carries_the_app_and_the_prompt_choice_sealed() -> None:
    signer = ShareSigner(["secret"], "admin-1")
    token = signer.token_for("tsk_1", "key_1", 2000, "acme-app", True)
    opened = signer.open(token, 1000)
    assert (opened.app, opened.show_prompt) == ("acme-app", True)
    assert "acme" not in token
    plain = signer.open(signer.token_for("tsk_1", "key_1", 2000), 1000)
    assert (plain.app, plain.show_prompt) == ("", False)


def test_a_refusal_says_why_for_the_pages_status() -> None:
    signer = ShareSigner(["secret"], "admin-1")
    token = signer.token_for("tsk_1", "key_1", 2000)
    with pytest.raises(ShareRefused) as expired:
        signer.open(token, 3000)
    assert expired.value.why == "expired"
    with pytest.raises(ShareRefused) as forged:
        signer.open("s2.nothing-here", 1000)
    assert forged.value.why == "forged"
    with pytest.raises(ShareRefused) as admin:
        ShareSigner(["secret"], "admin-2").open(signer.token_for("tsk_1", None, 2000), 1000)
    assert admin.value.why == "revoked"


def test_a_failure_shows_the_safe_words_never_cometapis() -> None:
    failed = task(state="failed", error=RAW, outputs=[])
    documents = {"e1": ({"state": "failed", "failure_code": "INTERNAL"}, "{}")}
    view = shared_view(detail(failed, documents), link())
    assert view["error"] == failure_message("INTERNAL")
    assert RAW not in str(view)
    # Without the event's document: the general safe words.
    assert shared_view(detail(failed), link())["error"] == failure_message(None)
    assert shared_view(detail(task()), link())["error"] is None


def test_the_prompt_shows_only_when_the_link_allows_it() -> None:
    assert shared_view(detail(task()), link())["prompt"] is None
    shown = shared_view(detail(task()), link(show_prompt=True))
    assert shown["prompt"] == "a red fox <b>bold</b>"
    assert (shown["app"], shown["made"]) == ("acme", "image")
    assert prompt_of(task(kind="video2video", request={"prompt": "redraw"})) == "redraw"
    assert prompt_of(task(kind="voice_isolation", request={"audioUri": "x"})) is None
    assert shared_view(detail(task()), None)["app"] is None


def test_the_page_escapes_what_the_task_and_the_app_say() -> None:
    view = shared_view(detail(task()), link(show_prompt=True, app="a<script>"))
    page = render_page(view, link(app="a<script>"), ServerConfig(), "n0nce")
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "a<script>" not in page
    assert re.search(r'<script nonce="n0nce">', page)
    assert '<meta name="viewport"' in page and 'rel="icon" href="data:image/svg+xml,' in page
    # The view the script starts from cannot end its own element.
    boot = page.split('id="boot">', 1)[1].split("</script>", 1)[0]
    assert "<" not in boot


def test_the_app_look_is_checked_and_used() -> None:
    logo = "data:image/png;base64,iVBORw0KGgo="
    server = ServerConfig(
        share_apps={"acme": ShareLook(share_logo_url=logo, share_accent="#0f766e")}
    )
    page = render_page(shared_view(detail(task()), link()), link(), server, "n")
    assert logo in page and "--accent: #0f766e" in page and "%230f766e" in favicon("#0f766e")
    for bad in (
        {"share_accent": "red; background: url(x)"},
        {"share_logo_url": "javascript:alert(1)"},
        {"share_logo_url": "http://plain.example/logo.png"},
        {"share_logo_url": "https://x.example/a'b.png"},
    ):
        with pytest.raises(ValidationError):
            ShareLook(**bad)
    assert ShareLook(share_logo_url="https://cdn.acme.example/l.png").logo_origin == (
        "https://cdn.acme.example"
    )


def test_the_csp_allows_only_the_relay_the_logo_and_a_presigning_bucket() -> None:
    server, media = ServerConfig(), MediaConfig()
    csp = page_headers(server, media, "abc")["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-abc'" in csp
    assert "img-src 'self' data:;" in csp and "media-src 'self';" in csp
    assert "*" not in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    look = ShareLook(share_logo_url="https://cdn.acme.example/l.png")
    assert (
        "https://cdn.acme.example"
        in page_headers(server, media, "n", look)["Content-Security-Policy"]
    )
    bucket = MediaConfig(
        enabled=True, store="s3", bucket="b", endpoint_url="https://s3.example:9000/x"
    )
    csp = page_headers(server, bucket, "n")["Content-Security-Policy"]
    assert "media-src 'self' https://s3.example:9000;" in csp


@pytest.mark.parametrize("why", sorted(CLOSED))
def test_a_link_that_does_not_open_gets_a_page_with_its_status(why: Any) -> None:
    status, page = render_closed(why, ServerConfig(), "n")
    assert status == (404 if why == "forged" else 410)
    assert CLOSED[why][1] in page and f'data-why="{why}"' in page
    assert "{" not in page.split("<body>", 1)[1]  # no JSON, nothing left unrendered
