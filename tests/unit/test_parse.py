"""Parsing what CometAPI sends, as pure functions: every status word, drifted types, unknown
tasks, hostile bodies. Nothing here may raise anything but ParseError."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.kernel.errors import ParseError
from receiver.lifecycle.comet import (
    NOT_EXIST,
    _split_with_host,
    _with_host,
    parse_callback,
    parse_envelope,
    parse_feed,
    parse_official_task,
    upstream_error_message,
)
from receiver.lifecycle.rules.task import (
    STATES,
    TERMINAL_STATES,
    Observation,
    advances,
    map_upstream,
)

# Every status word /work/shared/cometapi-runway.md lists, and the state it means.
WORDS = {
    "NOT_START": "queued",
    "SUBMITTED": "queued",
    "QUEUED": "queued",
    "PENDING": "queued",
    "THROTTLED": "queued",
    "IN_PROGRESS": "running",
    "RUNNING": "running",
    "SUCCESS": "succeeded",
    "SUCCEEDED": "succeeded",
    "FAILURE": "failed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}
CDN = "https://cdn.test.invalid/v.mp4"


def callback(**data: Any) -> bytes:
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


def feed(**data: Any) -> dict[str, Any]:
    return {"code": "success", "message": "", "data": data}


def observed(result: Observation | str) -> Observation:
    assert isinstance(result, Observation), result
    return result


@pytest.mark.parametrize("word", WORDS)
def test_every_status_word_maps_in_every_format(word: str):
    state = WORDS[word]
    assert map_upstream(word) == state
    assert map_upstream(word.lower()) == state
    assert map_upstream(word.replace("_", " ").title()) == state

    _, obs = parse_callback(callback(task_id="u1", status=word))
    assert (obs.state, obs.upstream_status, obs.upstream_task_id) == (state, word, "u1")
    obs = observed(parse_feed(feed(task_id="u1", action="IMAGE_TO_VIDEO", status=word)))
    assert (obs.state, obs.upstream_status) == (state, word)
    obs = observed(parse_official_task({"id": "u1", "status": word}))
    assert (obs.state, obs.upstream_status, obs.upstream_task_id) == (state, word, "u1")


@pytest.mark.parametrize("word", [None, 200, 1.5, True, ["SUCCESS"], {"s": 1}, "", "DONE?"])
def test_unknown_words_map_to_nothing(word: object):
    assert map_upstream(word) is None
    _, obs = parse_callback(callback(status=word))
    assert obs.state is None


@pytest.mark.parametrize("code", [200, "200", "success", "SUCCESS", "ok", 0])
def test_success_codes_in_any_type(code: object):
    envelope = parse_envelope({"code": code, "data": {}})
    assert envelope.ok and envelope.code == str(code)


def test_callback_takes_drifted_types():
    body = {
        "code": "success",
        "message": "fine",  # `message` instead of `msg`
        "exec_time": "0.2",
        "data": {
            "task_id": 12345,  # a number, not a string
            "status": "SUCCESS",
            "create_time": "2026-03-13T01:52:46.000Z",
            "update_time": 1773366799,
            "video_url": CDN,
            "poster": ["not", "a", "url"],
            "last_frame": "https://cdn.test.invalid/last.jpg",
            "progress": 100,
            "undocumented": {"x": [1, 2]},
        },
    }
    envelope, obs = parse_callback(json.dumps(body).encode())
    assert envelope.msg == "fine" and envelope.ok
    assert obs.state == "succeeded" and obs.upstream_task_id == "12345"
    assert obs.outputs == (CDN,)
    assert obs.thumbnail == "https://cdn.test.invalid/last.jpg"
    assert obs.progress == "100" and obs.error is None

    # Double-encoded `data`, and no other key at all.
    _, obs = parse_callback(json.dumps({"data": json.dumps({"state": "running"})}).encode())
    assert obs.state == "running"
    # Non-URL outputs are not outputs.
    _, obs = parse_callback(callback(status="SUCCESS", video_url="ftp://x/y", output=[1, None]))
    assert obs.outputs == ()


def test_failure_reasons():
    _, obs = parse_callback(callback(status="FAILURE", msg="content moderation"))
    assert (obs.state, obs.error) == ("failed", "content moderation")
    # An error code and no status at all: the callback still reports an ended task.
    _, obs = parse_callback(json.dumps({"code": 500, "msg": "render crashed", "data": {}}).encode())
    assert (obs.state, obs.error) == ("failed", "render crashed")
    obs = observed(parse_feed(feed(status="FAILURE", fail_reason="bad source")))
    assert (obs.state, obs.error) == ("failed", "bad source")
    obs = observed(
        parse_official_task(
            {"id": "u", "status": "FAILED", "failure": "decode", "failureCode": "INPUT.X"}
        )
    )
    assert (obs.state, obs.error) == ("failed", "decode")
    obs = observed(parse_official_task({"id": "u", "status": "FAILED", "failureCode": "SAFETY"}))
    assert obs.error == "SAFETY"
    # No error on success, even when a message is present.
    _, obs = parse_callback(callback(status="SUCCESS", msg="done", video_url=CDN))
    assert obs.error is None


# The flat callback body /work/shared/cometapi-runway.md quotes from CometAPI's docs.
DOCUMENTED_FLAT = {
    "task_id": "d51c94db-0000-4000-8000-000000000001",
    "status": "3",
    "prompt": "a cat",
    "prompt_en": "a little kitten.",
    "video_url": "https://runwaycdn.cometapi.com/v/x.mp4",
    "poster": "https://runwaycdn.cometapi.com/v/p.png",
    "last_frame": "https://runwaycdn.cometapi.com/v/l.png",
    "msg": None,
    "point": "320",
    "refund": "0",
    "create_time": "1728622596",
    "update_time": "1728622955",
}


def flat(**fields: Any) -> bytes:
    return json.dumps({**DOCUMENTED_FLAT, **fields}).encode()


def test_documented_flat_callback():
    _, obs = parse_callback(flat())
    assert obs == Observation(
        state="succeeded",
        upstream_status="3",
        upstream_task_id="d51c94db-0000-4000-8000-000000000001",
        outputs=("https://runwaycdn.cometapi.com/v/x.mp4",),
        thumbnail="https://runwaycdn.cometapi.com/v/p.png",
        error=None,
        point=320.0,
        refund=0.0,
        upstream_created_at=1728622596.0,
        upstream_updated_at=1728622955.0,
    )
    # The poster missing: the last frame stands in for it.
    assert (
        parse_callback(flat(poster=None))[1].thumbnail == "https://runwaycdn.cometapi.com/v/l.png"
    )
    # Numbers that drifted into numbers.
    _, obs = parse_callback(flat(status=3, point=320, refund=12.5, create_time=1728622596))
    assert (obs.state, obs.upstream_status) == ("succeeded", "3")
    assert (obs.point, obs.refund, obs.upstream_created_at) == (320.0, 12.5, 1728622596.0)
    # Numbers that are not numbers are left unknown, never guessed.
    _, obs = parse_callback(flat(point="lots", refund=True, create_time="yesterday"))
    assert (obs.point, obs.refund, obs.upstream_created_at) == (None, None, None)
    _, obs = parse_callback(flat(point="NaN", refund="inf", update_time="-5"))
    assert obs.upstream_updated_at is None
    # Credits are read as given, not finite or not: sane_credits refuses (and has logged)
    # whatever cannot be a price.
    assert math.isnan(obs.point or 0.0) and obs.refund == math.inf
    # A callback is read by the rule of every door: no integer beyond 64 bits.
    with pytest.raises(ParseError, match="64 bits"):
        parse_callback(flat(point=10**400))


@pytest.mark.parametrize("status", ["0", "1", "2", "4", "5", " 2 ", "10", 4])
def test_flat_numeric_statuses_other_than_3_claim_no_state(status: object):
    """No document says what they mean: the callback is a bare "something changed, ask"."""
    _, obs = parse_callback(flat(status=status))
    assert (obs.state, obs.upstream_status) == (None, str(status).strip())
    assert obs.error is None  # not taken for a failure either


@pytest.mark.parametrize("video_url", [None, "", "ftp://x/y.mp4", 7])
def test_flat_status_3_without_a_video_claims_no_state(video_url: object):
    _, obs = parse_callback(flat(video_url=video_url))
    assert (obs.state, obs.upstream_status, obs.outputs) == (None, "3", ())
    body = dict(DOCUMENTED_FLAT)
    del body["video_url"]
    _, obs = parse_callback(json.dumps(body).encode())
    assert (obs.state, obs.upstream_status) == (None, "3")


def test_status_3_in_the_envelope():
    _, obs = parse_callback(callback(task_id="u", status="3", video_url=CDN, point="40"))
    assert (obs.state, obs.upstream_status, obs.outputs, obs.point) == (
        "succeeded",
        "3",
        (CDN,),
        40.0,
    )
    _, obs = parse_callback(callback(task_id="u", status="3"))
    assert (obs.state, obs.upstream_status) == (None, "3")
    _, obs = parse_callback(callback(task_id="u", status="2"))
    assert (obs.state, obs.upstream_status) == (None, "2")


@pytest.mark.parametrize(
    "body",
    [
        # The documented fields, less the two that make it a callback.
        {k: v for k, v in DOCUMENTED_FLAT.items() if k not in ("task_id", "status")},
        {"video_url": "https://runwaycdn.cometapi.com/v/x.mp4"},
        {"prompt": "a cat", "point": "320"},
    ],
)
def test_flat_body_without_task_id_and_status_is_refused(body: dict[str, Any]):
    with pytest.raises(ParseError) as caught:
        parse_callback(json.dumps(body).encode())
    assert "task_id and status" in str(caught.value)


def test_outputs_from_every_place_upstream_puts_them():
    obs = observed(
        parse_feed(
            feed(
                status="SUCCESS",
                video_url=CDN,
                data={"id": "u", "status": "SUCCEEDED", "output": [CDN]},
            )
        )
    )
    assert obs.outputs == (CDN,)  # the same URL twice is one output
    obs = observed(
        parse_official_task(
            {"id": "u", "status": "SUCCEEDED", "output": [CDN, "https://cdn.test.invalid/2.mp4"]}
        )
    )
    assert obs.outputs == (CDN, "https://cdn.test.invalid/2.mp4")
    # An official answer wrapped in an envelope.
    obs = observed(
        parse_official_task(
            {"code": "success", "data": {"id": "u", "status": "RUNNING", "progress": 0.42}}
        )
    )
    assert (obs.state, obs.progress) == ("running", "0.42")


def test_published_feed_example():
    published = {
        "code": "success",
        "message": "",
        "data": {
            "task_id": "t1",
            "action": "IMAGE_TO_VIDEO",
            "status": "QUEUED",
            "fail_reason": "",
            "submit_time": 1773366766,
            "start_time": 0,
            "finish_time": 0,
            "progress": "0%",
            "data": {"id": "r1", "status": "PENDING", "createdAt": "2026-03-13T01:52:46Z"},
        },
    }
    obs = observed(parse_feed(published))
    assert (obs.state, obs.upstream_status, obs.upstream_task_id, obs.progress) == (
        "queued",
        "QUEUED",
        "t1",
        "0%",
    )
    # The outer status missing: the inner Runway status is used.
    del published["data"]["status"]
    assert observed(parse_feed(published)).upstream_status == "PENDING"


@pytest.mark.parametrize(
    "answer",
    [
        {"code": "task_not_exist", "message": "task_not_exist", "data": None},
        {"code": "task_not_exist"},
        {"code": "success", "message": "task_not_exist", "data": None},
        {"code": 404, "msg": "task_not_exist"},
    ],
)
def test_feed_task_not_exist(answer: dict[str, Any]):
    assert parse_feed(answer) == NOT_EXIST


@pytest.mark.parametrize(
    "answer",
    [
        {"error": "task_not_exist", "code": "task_not_exist"},
        {"error": "task_not_exist"},
        {"code": "task_not_exist", "data": None},
    ],
)
def test_official_task_not_exist(answer: dict[str, Any]):
    assert parse_official_task(answer) == NOT_EXIST


@pytest.mark.parametrize("answer", [None, [], "SUCCESS", 200, {"code": "error", "data": None}])
def test_feed_refuses_what_it_cannot_read(answer: object):
    with pytest.raises(ParseError):
        parse_feed(answer)


@pytest.mark.parametrize("answer", [None, [], "SUCCEEDED", {"id": "u"}, {"status": None}])
def test_official_refuses_what_it_cannot_read(answer: object):
    with pytest.raises(ParseError):
        parse_official_task(answer)


def test_official_unknown_status_is_still_running():
    obs = observed(parse_official_task({"id": "u", "status": 3}))
    assert (obs.state, obs.upstream_status) == ("running", "3")
    obs = observed(parse_official_task({"id": "u", "status": "WARMING_UP"}))
    assert (obs.state, obs.upstream_status) == ("running", "WARMING_UP")


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("QUEUED", "queued"),
        ("PENDING", "queued"),
        ("THROTTLED", "queued"),
        ("RUNNING", "running"),
        ("SUCCEEDED", "succeeded"),
        ("FAILED", "failed"),
        ("CANCELLED", "cancelled"),
    ],
)
def test_official_task_plain_or_wrapped(word: str, state: str):
    task = {"id": "u", "status": word, "createdAt": "2026-01-01T00:00:00Z"}
    if word == "SUCCEEDED":
        task["output"] = ["https://cdn.example/u.png"]
    plain = observed(parse_official_task(task))
    wrapped = observed(parse_official_task({"code": "success", "message": "", "data": task}))
    assert plain == wrapped
    assert (plain.state, plain.upstream_status) == (state, word)
    if word == "SUCCEEDED":
        assert plain.outputs == ("https://cdn.example/u.png",)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"a string"',
        b"{}",
        b'{"code": 200}',
        b'{"code": 200, "data": null}',
        b'{"code": 200, "data": 5}',
        b'{"code": 200, "data": "not json either"}',
        b'{"code": 200, "data": {"status": "SUCC',
        b"\xff\xfe{}",
        b'{"code": 1' + b"0" * 5000 + b', "data": {}}',  # past Python's int digit limit
    ],
)
def test_callback_refuses_what_it_cannot_read(body: bytes):
    with pytest.raises(ParseError) as caught:
        parse_callback(body)
    assert str(caught.value)


def test_deep_nesting_is_a_parse_error():
    depth = 100_000
    for body in (
        b"[" * depth + b"]" * depth,
        b'{"code": 200, "data": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}",
        # `data` double-encoded, and deep inside the string
        json.dumps({"code": 200, "data": "[" * depth + "]" * depth}).encode(),
    ):
        with pytest.raises(ParseError):
            parse_callback(body)

    # Deep structures handed over already decoded are not walked: no RecursionError.
    deep: Any = "SUCCESS"
    for _ in range(depth):
        deep = [deep]
    assert observed(parse_feed(feed(status="RUNNING", data={"status": deep}))).state == "running"
    assert observed(parse_official_task({"status": "PENDING", "output": deep})).outputs == ()
    _, obs = parse_callback(callback(status="RUNNING", extra="x"))
    assert obs.state == "running"


def test_text_is_made_storable():
    # PostgreSQL TEXT refuses NUL, and a lone surrogate cannot be encoded for either store.
    body = callback(task_id="u\u00001", status="FAILED", msg="bad\u0000 \ud800source")
    _, obs = parse_callback(body)
    assert obs.upstream_task_id == "u1"
    assert obs.error is not None and "\x00" not in obs.error
    obs.error.encode("utf-8")  # raises if a surrogate is left
    assert obs.error.startswith("bad") and obs.error.endswith("source")


def test_long_text_is_capped():
    _, obs = parse_callback(callback(status="FAILED", msg="x" * 10_000))
    assert obs.error is not None and len(obs.error) == 2000


def test_upstream_error_message():
    assert upstream_error_message({"error": {"message": "quota"}}, "fb") == "quota"
    assert upstream_error_message({"error": "invalid api key"}, "fb") == "invalid api key"
    assert upstream_error_message({"code": 500, "msg": "exploded"}, "fb") == "exploded"
    assert upstream_error_message({"message": "rate limit"}, "fb") == "rate limit"
    assert upstream_error_message(["?"], "HTTP 502") == "HTTP 502"
    assert upstream_error_message({"msg": ""}, "HTTP 500") == "HTTP 500"


def test_states_only_move_forward():
    assert all(advances(None, s) for s in STATES)
    assert advances("queued", "running")
    assert not advances("running", "queued")
    for state in STATES:
        assert not advances(state, state)
    for end in TERMINAL_STATES:
        assert advances("queued", end) and advances("running", end)
        # A terminal state never changes, not even to another terminal state.
        assert not any(advances(end, s) for s in STATES)


@pytest.mark.parametrize(
    "link",
    ["https://cd[.example/v.mp4", "https://cdn.example:99999/v.mp4", "https://", "https:///v.mp4"],
)
def test_a_link_the_standard_library_cannot_split_is_no_output(link: str):
    """A claimed video is compared with CometAPI's by its place: a link that cannot be split
    failed that comparison with a ValueError, and the callback's transaction with it."""
    body = {"code": 200, "data": {"task_id": "u", "status": "SUCCESS", "video_url": link}}
    _, obs = parse_callback(json.dumps(body).encode())
    assert obs.outputs == ()
    with_poster = {**body["data"], "poster": link}
    _, obs = parse_callback(json.dumps({"code": 200, "data": with_poster}).encode())
    assert obs.thumbnail is None


_LINK_TAILS = st.text(alphabet="ab-.:0123456789[]@/?#%\t ", max_size=24)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(["http://", "https://"]), _LINK_TAILS)
def test_a_link_checked_without_splitting_is_read_as_the_standard_library_reads_it(
    scheme: str, tail: str
):
    link = scheme + tail
    assert _with_host(link) == _split_with_host(link)


@pytest.mark.parametrize(
    "link",
    [
        "https://cdn.example/v.mp4?X-Amz-Expires=3600",
        "http://127.0.0.1:9/runway/abc123.mp4",
        "https://cdn.example:65535",
        "https://cdn.example:65536/v.mp4",
        "https://cdn.example:00080/v.mp4",
        "https://user@cdn.example/v.mp4",
        "https://[::1]:8080/v.mp4",
    ],
)
def test_common_and_odd_links_alike(link: str):
    assert _with_host(link) == _split_with_host(link)
