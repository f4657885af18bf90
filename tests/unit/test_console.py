"""The console's parts that need no browser: sessions, CSRF, the login brake, the chart,
a task's timeline; and a few of its answers, in process, on a temporary SQLite store."""

from __future__ import annotations

import asyncio
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from receiver.app.build import build_service, create_app
from receiver.config import parse_settings, resolve
from receiver.console import chart, views
from receiver.console.brake import LoginBrake
from receiver.console.core import code_spans
from receiver.console.session import Sessions, check_form, same_origin
from receiver.kernel.errors import InvalidRequest, NotAllowed
from receiver.kernel.store.db import Db
from receiver.lifecycle.rules.records import Event, SubmitAttempt, Task
from receiver.lifecycle.rules.task import KINDS
from receiver.operator.rows import Activity
from receiver.outbox.rules.delivery import Attempt, DownstreamLabels

T = TypeVar("T")

KEYS = ["old-signing-key-0123456789", "new-signing-key-0123456789"]
ADMIN = "admin-token-for-console-tests"
HERE = {"http://127.0.0.1:8080"}


def sessions(keys: list[str] = KEYS, admin: str = ADMIN, max_age: int = 3600) -> Sessions:
    return Sessions(keys, admin, max_age)


# -- sessions -------------------------------------------------------------------------------


def test_a_session_cookie_reads_back_and_carries_nothing_of_the_token() -> None:
    s = sessions()
    cookie = s.issue()
    session = s.read(cookie)
    assert session is not None and session.csrf
    assert ADMIN not in cookie
    assert s.read(s.issue()) != session  # a new id on every login


def test_a_tampered_forged_or_foreign_cookie_is_no_session() -> None:
    s = sessions()
    cookie = s.issue()
    assert s.read(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert s.read("") is None and s.read(None) is None and s.read("garbage.x.y") is None
    assert sessions(keys=["another-signing-key-0000000"]).read(cookie) is None
    # A new admin token ends every session signed before it.
    assert sessions(admin="a-new-admin-token-000000").read(cookie) is None
    # The login form's cookie is not a session, and a session is not a login cookie.
    login_cookie, _ = s.issue_login()
    assert s.read(login_cookie) is None and s.read_login(cookie) is None


def test_a_session_ends_when_it_said_even_if_session_seconds_grows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cookie = sessions(max_age=600).issue()
    session = sessions(max_age=600).read(cookie)
    now = time.time()
    assert session is not None and now + 590 < session.expires_at <= now + 600
    monkeypatch.setattr(time, "time", lambda: now + 610)
    # A revocation is kept only until then, so a longer setting must not revive it.
    assert sessions(max_age=6000).read(cookie) is None


def test_a_known_browser_cookie_names_the_browser_under_this_admin_token() -> None:
    s = sessions()
    cookie = s.issue_browser(None)
    browser = s.read_browser(cookie)
    assert browser is not None and s.read_browser(s.issue_browser(browser)) == browser
    assert s.read_browser(s.issue_browser(None)) != browser
    assert s.read(cookie) is None and s.read_browser(s.issue()) is None  # not a session
    assert s.read_browser(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert sessions(admin="a-new-admin-token-000000").read_browser(cookie) is None
    assert s.read_browser(None) is None and s.read_browser("x.y.z") is None


def test_a_session_outlives_a_key_rotation_and_expires_on_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cookie = sessions(keys=KEYS[:1]).issue()
    assert sessions(keys=KEYS).read(cookie) is not None  # the old key still verifies
    s = sessions(max_age=600)
    cookie = s.issue()
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 590)
    assert s.read(cookie) is not None
    monkeypatch.setattr(time, "time", lambda: now + 610)
    assert s.read(cookie) is None


def test_the_admin_token_is_compared_whole() -> None:
    s = sessions()
    assert s.token_matches(ADMIN)
    assert not s.token_matches(ADMIN[:-1]) and not s.token_matches(ADMIN + "x")
    assert not s.token_matches("") and not s.token_matches("ädmin")


# -- CSRF ----------------------------------------------------------------------------------


def test_a_csrf_token_is_valid_only_for_its_own_session() -> None:
    s = sessions()
    mine, theirs = s.read(s.issue()), s.read(s.issue())
    assert mine is not None and theirs is not None
    assert s.csrf_valid(mine.id, mine.csrf)
    assert not s.csrf_valid(mine.id, theirs.csrf)
    for bad in (None, "", "x", mine.csrf[:-1], mine.id, 7):
        assert not s.csrf_valid(mine.id, bad)
    assert not s.csrf_valid(None, mine.csrf)
    # A token made under another salt (a session cookie) never passes for one.
    assert not s.csrf_valid(mine.id, s.issue())


def test_a_login_form_token_is_bound_to_its_own_cookie() -> None:
    s = sessions()
    cookie, nonce = s.issue_login()
    assert s.read_login(cookie) == nonce
    assert s.csrf_valid(nonce, s.csrf_for(nonce))
    _, other = s.issue_login()
    assert not s.csrf_valid(nonce, s.csrf_for(other))


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # an old browser or a script: the CSRF token decides
        ({"origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"}, True),
        ({"origin": "null", "sec-fetch-site": "same-origin"}, True),  # no-referrer's Origin
        ({"sec-fetch-site": "none"}, True),  # typed into the address bar
        ({"origin": "http://127.0.0.1:9999"}, False),  # another port: another origin
        ({"sec-fetch-site": "same-site"}, False),
        ({"sec-fetch-site": "cross-site"}, False),
        ({"origin": "https://evil.example", "sec-fetch-site": "cross-site"}, False),
        ({"origin": "null", "sec-fetch-site": "cross-site"}, False),  # a sandboxed frame
    ],
)
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(headers, HERE) is allowed


def test_check_form_refuses_with_403() -> None:
    s = sessions()
    session = s.read(s.issue())
    assert session is not None
    check_form(s, session.id, {"csrf": session.csrf}, {}, HERE)
    with pytest.raises(NotAllowed):
        check_form(s, session.id, {}, {}, HERE)
    with pytest.raises(NotAllowed):
        check_form(s, session.id, {"csrf": session.csrf}, {"origin": "http://x.test"}, HERE)


# -- the login brake -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_are_limited_per_client_per_minute() -> None:
    clock = Clock()
    brake = LoginBrake(5, 100, clock)
    for _ in range(5):
        assert brake.retry_after("10.0.0.1") is None
        brake.failed("10.0.0.1")
        clock.now += 1
    wait = brake.retry_after("10.0.0.1")
    assert wait is not None and 55 <= wait <= 60
    assert brake.retry_after("10.0.0.2") is None  # others are not held back
    clock.now += wait
    assert brake.retry_after("10.0.0.1") is None  # the oldest failure left the window
    brake.failed("10.0.0.1")
    assert brake.retry_after("10.0.0.1") is not None
    brake.succeeded("10.0.0.1")
    assert brake.retry_after("10.0.0.1") is None


def test_the_brake_forgets_the_longest_idle_clients_past_its_bound() -> None:
    brake = LoginBrake(1, 100, Clock(), max_clients=3)
    for client in ("a", "b", "c", "d"):
        brake.failed(client)
    assert brake.retry_after("a") is None
    assert all(brake.retry_after(c) is not None for c in "bcd")


def test_a_known_browser_is_braked_apart_from_its_address() -> None:
    brake = LoginBrake(5, 100, Clock())
    for _ in range(5):
        brake.failed("10.0.0.1")  # an attacker behind the operator's proxy
    assert brake.retry_after("10.0.0.1") is not None
    assert brake.retry_after("10.0.0.1", "operators-browser") is None
    for _ in range(5):
        brake.failed("10.0.0.1", "operators-browser")
    assert brake.retry_after("10.0.0.1", "operators-browser") is not None  # braked too
    assert brake.retry_after("10.0.0.1", "another-browser") is None
    brake.succeeded("10.0.0.1", "operators-browser")
    assert brake.retry_after("10.0.0.1", "operators-browser") is None
    assert brake.retry_after("10.0.0.1") is not None  # its address stays held


def test_past_the_global_bound_an_address_that_failed_waits_and_a_clean_one_is_heard() -> None:
    clock = Clock()
    brake = LoginBrake(5, 10, clock)
    for n in range(9):
        brake.failed(f"10.1.0.{n}")
        clock.now += 1
    assert not brake.under_pressure()
    assert brake.retry_after("10.1.0.0") is None  # one failure of five: still heard
    brake.failed("10.1.0.9")
    assert brake.under_pressure()
    wait = brake.retry_after("10.1.0.9")  # one failure is now the allowance
    assert wait is not None and 59 <= wait <= 60
    assert brake.retry_after("10.1.0.0") is not None
    assert brake.retry_after("192.0.2.1") is None  # an address that has not failed
    assert brake.retry_after("10.1.0.0", "operators-browser") is None  # a known browser
    # Pressure ends when the oldest of the last ten failures leaves the window.
    clock.now += 51
    assert not brake.under_pressure()
    assert brake.retry_after("10.1.0.9") is None


# -- the chart -------------------------------------------------------------------------------


NOW = 1_700_000_000.0
HOUR = (NOW // 3600) * 3600


def test_the_tasks_chart_stacks_outcomes_per_hour() -> None:
    activity = Activity(
        [(HOUR, "succeeded", 7), (HOUR, "failed", 2), (HOUR - 3600, "cancelled", 1)], []
    )
    svg = str(chart.tasks_chart(activity, NOW))
    root = ET.fromstring(svg)  # well-formed
    bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.find("*") is not None]
    tips = sorted(bar[0].text or "" for bar in bars)
    assert len(bars) == 3 and any(t.endswith("7 succeeded") for t in tips)
    assert ["".join(li.itertext()) for li in root.iter("li")] == [s for s, _ in chart.OUTCOMES]
    assert ">10<" in svg  # the axis's top: 9 in one hour, rounded up
    # An hour outside the last 24 is left out.
    old = Activity([(HOUR - 30 * 3600, "succeeded", 5)], [])
    assert "No task ended in the last 24 hours" in str(chart.tasks_chart(old, NOW))


def test_the_latency_chart_escapes_downstream_names() -> None:
    name = '<script>alert("x")</script>&'
    activity = Activity(
        [],
        [(HOUR - 3600, name, 120.0, 4), (HOUR, name, 80.0, 2), (HOUR, "plain", 300.0, 1)],
    )
    svg = str(chart.latency_chart(activity, NOW))
    root = ET.fromstring(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;/script&gt;&amp;" in svg
    assert svg.count("<polyline") == 1  # a lone point draws no line
    assert svg.count("<circle") == 3
    assert "No delivery attempt" in str(chart.latency_chart(Activity([], []), NOW))
    # Each line is named whole under the chart, by the name it is given.
    key = ["".join(li.itertext()) for li in root.iter("li")]
    assert key == [name, "plain"]
    named = str(chart.latency_chart(activity, NOW, lambda kept: f"acme / {kept}"))
    assert "acme / plain" in named


def test_every_latency_line_has_a_colour_of_its_own_and_pull_ones_are_left_out() -> None:
    names = [f"hook-{n:02d}" for n in range(14)]
    activity = Activity([], [(HOUR, name, 10.0 + n, 1) for n, name in enumerate(names)])
    svg = str(chart.latency_chart(activity, NOW, left_out=lambda kept: kept == "hook-13"))
    fills = re.findall(r'<circle [^>]*fill="([^"]+)"', svg)
    assert len(fills) == 13 and len(set(fills)) == 13
    assert "hook-13" not in svg
    assert len({chart.colour(n) for n in range(60)}) == 60


def test_nice_ceiling() -> None:
    assert [chart.nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 10, 11, 240, 999)] == [
        1,
        0.5,
        1,
        5,
        10,
        10,
        20,
        500,
        1000,
    ]


# -- what the pages show --------------------------------------------------------------------


def task(**extra: Any) -> Task:
    fields: dict[str, Any] = {
        "id": "tsk_1",
        "kind": "video2video",
        "state": "succeeded",
        "upstream_task_id": "up-1",
        "upstream_status": "SUCCESS",
        "request": {"prompt": "a cat"},
        "outputs": ["https://cdn.example/out.mp4"],
        "thumbnail": "https://cdn.example/out.png",
        "error": None,
        "created_at": 100.0,
        "updated_at": 110.0,
        "terminal_at": 110.0,
        "next_poll_at": None,
        "poll_attempts": 1,
    }
    return Task(**(fields | extra))


def event(id: str, source: str, at: float, **extra: Any) -> Event:
    fields: dict[str, Any] = {
        "id": id,
        "task_id": "tsk_1",
        "source": source,
        "state": "succeeded",
        "upstream_status": "SUCCESS",
        "applied": True,
        "received_at": at,
        "verdict": None,
        "verdict_at": None,
    }
    return Event(**(fields | extra))


def attempt(number: int, at: float, outcome: str, status: int | None, error: str | None) -> Attempt:
    return Attempt(
        f"att_{number}",
        "dlv_1",
        "tsk_1",
        "hook",
        number,
        at - 0.01,
        at,
        10.0,
        status,
        error,
        outcome,
    )


def test_the_timeline_merges_events_and_attempts_by_time() -> None:
    entries = views.timeline(
        task(),
        [
            event("e1", "submit", 100.0, state="queued", upstream_status=None),
            event("e3", "poll", 104.0),
            event("e2", "callback", 103.0, verdict="confirmed", upstream_status="3"),
            event("e4", "callback", 109.0, verdict="contradicted", state="failed", applied=False),
        ],
        [attempt(2, 106.0, "succeeded", 200, None), attempt(1, 105.0, "retry", 503, "HTTP 503")],
    )
    assert [(e.kind, e.at) for e in entries] == [
        ("created", 100.0),
        ("submit", 100.0),
        ("callback", 103.0),
        ("poll", 104.0),
        ("attempt", 105.0),
        ("attempt", 106.0),
        ("callback", 109.0),
    ]
    callback, retry, delivered, contradicted = entries[2], entries[4], entries[5], entries[6]
    assert "confirmed by CometAPI" in callback.detail and callback.tone == "ok"
    assert (retry.status, retry.tone, retry.latency_ms) == (503, "warn", 10.0)
    assert "will retry: HTTP 503" in retry.detail
    assert delivered.title == "Delivery to hook, attempt 2" and delivered.tone == "ok"
    assert contradicted.tone == "bad" and "changed nothing" in contradicted.detail
    assert entries[1].detail == "accepted by CometAPI"


def test_a_downstream_is_named_in_words_and_kept_whole_in_a_timeline() -> None:
    app = "app_" + "0" * 24
    name = DownstreamLabels({app: "acme"})  # the console's `downstream` filter, APP/NAME
    assert name(f"{app}.acme-hooks") == "acme/acme-hooks"
    assert name("hook") == "hook"  # the operator's own
    unread = "app_" + "1" * 24  # an app this process has not read yet: never its id
    assert name(f"{unread}.x") == "(app)/x"
    late = replace(attempt(1, 105.0, "succeeded", 200, None), downstream=f"{app}.acme-hooks")
    [_, entry] = views.timeline(task(), [], [late], name=name)
    assert entry.title == "Delivery to acme/acme-hooks, attempt 1"
    assert entry.title_parts == ("Delivery to ", "acme/acme-hooks", ", attempt 1")
    assert views.timeline(task(), [], [])[0].title_parts == ("Recorded", "", "")


def test_the_timeline_shows_each_send_to_cometapi_and_the_page_where_the_task_waits() -> None:
    sends = [
        SubmitAttempt("sub_1", "tsk_1", 1, 100.0, 100.5, 429, "rate limit", "retry", 102.5),
        SubmitAttempt("sub_2", "tsk_1", 2, 102.5, 102.75, 200, None, "accepted", None),
    ]
    entries = views.timeline(
        task(), [event("e1", "submit", 102.75, state="queued", upstream_status=None)], [], sends
    )
    assert [(e.kind, e.at) for e in entries] == [
        ("created", 100.0),
        ("send", 100.5),
        ("send", 102.75),
        ("submit", 102.75),
    ]
    refused, taken = entries[1], entries[2]
    assert (refused.title, refused.status, refused.tone) == (
        "Sent to CometAPI, attempt 1",
        429,
        "warn",
    )
    assert refused.detail == ("CometAPI had no room; next try 1970-01-01 00:01:42 UTC: rate limit")
    assert (taken.tone, taken.detail, taken.latency_ms) == ("ok", "CometAPI took it", 250.0)
    waiting = task(state="queued", upstream_task_id=None, next_submit_at=160.0, queue_position=3)
    assert views.submission(waiting) == (
        "waiting to be sent, #3 in line; next try 1970-01-01 00:02:40 UTC"
    )
    assert views.submission(task(state="queued", upstream_task_id=None, sending=True)) == (
        "being sent to CometAPI"
    )
    assert views.submission(task()) == "sent: CometAPI has it"
    assert views.submission(task(state="cancelled", upstream_task_id=None)) == "never sent"


def test_the_video_is_the_mirrored_copy_when_there_is_one() -> None:
    mirrored = {
        "state": "succeeded",
        "media": {
            "status": "mirrored",
            "files": [
                {"role": "video", "url": "http://relay/media/v"},
                {"role": "poster", "url": "http://relay/media/p"},
            ],
        },
    }
    media = views.media_of(task(), [{"state": "queued"}, mirrored])
    assert (media.video, media.poster, media.mirrored) == (
        "http://relay/media/v",
        "http://relay/media/p",
        True,
    )
    failed = {"state": "succeeded", "media": {"status": "failed", "reason": "too large"}}
    media = views.media_of(task(), [failed])
    assert media.video == "https://cdn.example/out.mp4" and not media.mirrored
    assert media.note == "not mirrored: too large"
    assert views.media_of(task(state="running", outputs=[]), []).video is None


def test_the_submit_form_maps_onto_each_route_and_back() -> None:
    assert views.form_payload("video_to_video", "p", "https://x/v.mp4", "", "") == {
        "kind": "video_to_video",
        "videoUri": "https://x/v.mp4",
        "promptText": "p",
    }
    assert views.form_payload("image_to_video", "", "https://x/i.png", "gen4_turbo", "") == {
        "kind": "image_to_video",
        "promptImage": "https://x/i.png",
        "model": "gen4_turbo",
    }
    # Every kind of the table, its other fields as JSON, passed on as given.
    options = '{"kind": "video2video", "ratio": "1:1", "new": [1]}'
    assert views.form_payload("text_to_image", "a cat", "", "gen4_image", options) == {
        "kind": "text_to_image",
        "ratio": "1:1",
        "new": [1],
        "promptText": "a cat",
        "model": "gen4_image",
    }
    assert views.form_payload("voice_isolation", "", "https://x/a.mp3", "m", "")["audioUri"]
    for args, field in (
        (("voice_isolation", "p", "", "m", ""), "prompt: voice_isolation has no prompt field"),
        (("text_to_image", "", "https://x/i.png", "m", ""), "source: text_to_image has no"),
        (("text_to_image", "p", "", "m", "{ratio"), "options: not JSON"),
        (("text_to_image", "p", "", "m", "[1]"), "options: give a JSON object"),
        (
            ("text_to_image", "p", "", "m", '{"a": ["\\u0000"]}'),
            "options.a.0: must not contain NUL",
        ),
    ):
        with pytest.raises(InvalidRequest) as refused:
            views.form_payload(*args)
        assert refused.value.detail.startswith(field), refused.value.detail
    assert {k.name for _, group in views.KIND_GROUPS for k in group} == set(KINDS)

    fields, general = views.field_errors(
        "video2video",
        "video: must be an https or http URL; prompt: String should have at"
        " least 1 character; options.flip: flip must be true or false; colour: unknown field",
    )
    assert fields == {
        "source": "must be an https or http URL",
        "prompt": "String should have at least 1 character",
        "options": "flip must be true or false; colour: unknown field",
    }
    assert general == []
    fields, _ = views.field_errors("image_to_video", "promptImage: bad; promptText: long")
    assert fields == {"source": "bad", "prompt": "long"}
    assert views.field_errors("video2video", "body must be a JSON object") == (
        {},
        ["body must be a JSON object"],
    )


def test_times_from_the_forms() -> None:
    assert views.parse_when("2025-01-31T14:00", "since") == 1738332000.0
    assert views.parse_when("1738332000", "since") == 1738332000.0
    assert views.parse_when("", "since") is None
    # As the Since field's placeholder shows it: a 24-hour time, UTC.
    assert views.parse_when("2025-01-31 14:00", "since") == 1738332000.0
    with pytest.raises(Exception, match="since: give a date and a time on the 24-hour clock"):
        views.parse_when("01/31/2025, 02:00 PM", "since")
    # A field filled in for the operator reads the same way, and parses back.
    assert views.when_input(1738332000.0) == "2025-01-31 14:00"
    assert views.parse_when(views.when_input(1738332000.0), "since") == 1738332000.0


def test_a_time_ago_is_one_phrase_a_line_never_breaks() -> None:
    assert views.ago(100.0, now=104.0) == "4\u00a0s\u00a0ago"
    assert views.ago(0.0, now=7200.0) == "2\u00a0h\u00a0ago"


# -- answers, in process -------------------------------------------------------------------


def run(
    tmp_path: Path,
    scenario: Callable[[httpx.AsyncClient], Awaitable[None]],
    break_store: bool = False,
) -> None:
    settings = parse_settings(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'relay.db'}"},
            "console": {"login_attempts_per_minute": 2},
        }
    )
    env = {"COMETAPI_KEY": "k" * 20, "RECEIVER_ADMIN_TOKEN": ADMIN, "RECEIVER_SECRET": KEYS[0]}
    service = build_service(resolve(settings, env))

    async def go() -> None:
        await service.store.migrate()
        if break_store:

            async def broken(read: Callable[[Db], T]) -> T:
                raise RuntimeError("a bug, /secret/path/in/a/trace.py")

            service.store.read = broken  # type: ignore[method-assign]
        transport = httpx.ASGITransport(app=create_app(service), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            try:
                await scenario(c)
            finally:
                await service.store.close()

    asyncio.run(go())


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_pages_carry_the_security_headers_and_errors_are_html(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        login = await c.get("/console/login")
        csp = login.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert login.headers["x-frame-options"] == "DENY"
        assert login.headers["referrer-policy"] == "no-referrer"
        assert login.headers["cache-control"] == "no-store"
        assert 'type="password"' in login.text
        missing = await c.get("/console/no-such-page")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/")
        assert "Not found" in missing.text and "Traceback" not in missing.text
        assert (await c.get("/console/tasks")).status_code == 303  # to the login form
        assert (await c.get("/console/stream")).status_code == 401
        assert (await c.get("/console/static/live.js")).status_code == 200
        described = (await c.get("/openapi.json")).json()["paths"]
        assert not [path for path in described if "console" in path]

    run(tmp_path, scenario)


def test_failed_logins_get_429_and_are_logged_without_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        form = {"csrf": csrf_of(await c.get("/console/login")), "next": "/console/"}
        for _ in range(2):
            wrong = await c.post("/console/login", data={**form, "token": "guess-number-one"})
            assert wrong.status_code == 401 and "not the admin token" in wrong.text
        held = await c.post("/console/login", data={**form, "token": ADMIN})
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        assert "relay_console" not in c.cookies
        no_token = await c.post("/console/login", data={"token": ADMIN, "next": "/console/"})
        assert no_token.status_code == 403

    run(tmp_path, scenario)
    out = capsys.readouterr().out
    assert out.count("console.login_failed") == 2 and "guess-number-one" not in out


def test_a_login_sets_the_session_and_forms_need_its_token(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        form = {"csrf": csrf_of(await c.get("/console/login")), "next": "//evil.example/"}
        ok = await c.post("/console/login", data={**form, "token": ADMIN})
        assert ok.status_code == 303 and ok.headers["location"] == "/console/"  # not elsewhere
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        tasks = await c.get("/console/tasks")
        assert tasks.status_code == 200
        bad = await c.post("/console/tasks", data={"kind": "video2video", "csrf": "nope"})
        assert bad.status_code == 403
        invalid = await c.post(
            "/console/tasks",
            data={"csrf": csrf_of(tasks), "kind": "video2video", "prompt": "<b>x</b>"},
        )
        assert invalid.status_code == 422
        assert "&lt;b&gt;x&lt;/b&gt;</textarea>" in invalid.text  # kept, escaped
        assert 'id="e-source"' in invalid.text

    run(tmp_path, scenario)


def test_a_crash_is_an_html_page_without_a_trace(tmp_path: Path) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        form = {"csrf": csrf_of(await c.get("/console/login")), "next": "/console/"}
        await c.post("/console/login", data={**form, "token": ADMIN})
        crashed = await c.get("/console/")
        assert crashed.status_code == 500 and crashed.headers["content-type"].startswith(
            "text/html"
        )
        assert "it has been logged" in crashed.text
        assert "secret" not in crashed.text and "Traceback" not in crashed.text

    run(tmp_path, scenario, break_store=True)


def test_media_of_an_image_or_a_sound_is_its_mirrored_copy_and_type() -> None:
    for kind, made in (("text_to_image", "image"), ("sound_effect", "audio")):
        files = [{"role": made, "url": f"http://relay/media/{made}"}]
        mirrored = {"state": "succeeded", "media": {"status": "mirrored", "files": files}}
        media = views.media_of(task(kind=kind), [mirrored])
        assert (media.video, media.made, media.mirrored) == (
            f"http://relay/media/{made}",
            made,
            True,
        )
    assert views.media_of(task(), []).made == "video"


def test_the_key_form_becomes_the_body_of_post_v1_keys() -> None:
    from receiver.console.apps_page import key_payload

    form = {
        "name": " shop ",
        "scope.tasks:read": "on",
        "scope.tasks:submit": "on",
        "scope.nonsense": "on",
        "weight": "2",
        "max_queued": "",
        "max_per_day": "300",
        "csrf": "x",
    }
    assert key_payload(form) == {
        "name": "shop",
        "scopes": ["tasks:submit", "tasks:read"],
        "weight": 2,
        "max_per_day": 300,
    }
    # What is not a whole number goes on as typed, for the API's check to name the field.
    assert key_payload({"name": "a", "max_queued": "-1"})["max_queued"] == "-1"
    assert key_payload({"name": "a", "weight": "9" * 20})["weight"] == "9" * 20
    assert key_payload({})["scopes"] == []


def test_an_options_description_shows_its_code_as_code_and_escapes_the_rest() -> None:
    shown = code_spans("`task`: in order <b>, or `a&b`")
    assert shown == "<code>task</code>: in order &lt;b&gt;, or <code>a&amp;b</code>"
