"""The callback route's contract: who may change a task, what bodies it takes, what it answers.

Every refusal must be a 4xx with a reason and leave the task exactly as it was (no event,
no poll brought forward); every body CometAPI might plausibly send must be taken. The
simulator's own callbacks are dropped here and the polling grace is a minute, so the only
callbacks a task gets are the ones a test posts, and only those bring a poll.

CometAPI signs nothing, so a taken callback is a claim
(receiver/lifecycle/rules/task.py): it
is stored as a `callback` event with the state it claims and a verdict, and it brings a poll
forward; the task's state is CometAPI's answer to that poll. The hand-made bodies here claim
a video CometAPI never made, so once CometAPI has finished the task they are contradicted.
The one test that needs a body's own state applied and delivered runs its relay with
`callbacks.trust_body` and says so.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer

from receiver.kernel.secrets.tokens import _SALT
from tests.conftest import MakeRelay, webhook
from tests.harness import (
    OLD_SIGNING_SECRET,
    SIGNING_SECRET,
    Relay,
    Simulator,
    Sink,
    metric,
    mint,
    settled,
    video2video,
    wait_for,
)

# Duplicates and replays are told apart by what the store keeps.
pytestmark = pytest.mark.every_backend

MAX_BODY = 1024 * 1024  # callbacks.max_body_bytes default
NOT_QUEUED = ["running", "succeeded", "failed", "cancelled"]
VERDICTS = {"pending", "confirmed", "contradicted", "unconfirmed"}


def token_of(callback_url: str) -> str:
    return callback_url.rsplit("/", 1)[1]


def tampered(token: str) -> str:
    # A character inside the payload part: every one of them is covered by the signature.
    i = token.index(".") // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


def envelope(upstream_id: str, status: str, **data: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"task_id": upstream_id, "status": status, "msg": ""}
    if status == "SUCCESS":
        fields["video_url"] = f"https://cdn.test.invalid/{upstream_id}.mp4"
    return {"code": 200, "msg": "success", "data": {**fields, **data}}


def claims(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The task's callback events, oldest first."""
    return [e for e in task["events"] if e["source"] == "callback"]


def judged(task: dict[str, Any]) -> bool:
    """Ended, every delivery attempted to its end, every claim has its verdict, and no poll
    is left to come. (The task and its events are two reads: the verdicts may show before
    the task row of the poll that gave them.)"""
    return (
        settled(task)
        and all(e["verdict"] != "pending" for e in claims(task))
        and task["next_poll_at"] is None
    )


def upstream_state(sim: Simulator, upstream_id: str) -> str:
    """What CometAPI (the simulator) says the task is now."""
    [task] = [t for t in sim.tasks() if t["task_id"] == upstream_id]
    state: str = task["status"]
    return state


def taken_as_claim(relay: Relay, task_id: str, claimed: str | None) -> dict[str, Any]:
    """The task's one callback event: it claims `claimed`, and it changed nothing itself."""
    [claim] = claims(relay.task(task_id))
    assert (claim["state"], claim["applied"]) == (claimed, False), claim
    assert claim["verdict"] in VERDICTS, claim
    return claim


def ended_by_cometapi(relay: Relay, sim: Simulator, task_id: str, upstream_id: str) -> None:
    """The poll the callback brought (the grace period is a minute) ended the task as
    CometAPI says, and the claim of a video CometAPI never made was contradicted."""
    task = relay.wait_task(task_id, judged)
    assert task["state"] == upstream_state(sim, upstream_id) == "succeeded"
    assert task["outputs"] and not any("cdn.test.invalid" in url for url in task["outputs"])
    assert [e["verdict"] for e in claims(task)] == ["contradicted"]
    assert [e["source"] for e in task["events"] if e["applied"]][-1] == "poll"


@pytest.fixture
def relay(make_relay: MakeRelay, sim: Simulator, sink: Sink) -> Relay:
    sim.faults(drop_rate=1.0)
    return make_relay(
        [webhook(sink, events=NOT_QUEUED)],
        callbacks={"previous_secret_envs": ["RECEIVER_SECRET_OLD"]},
        # Asked first after a minute (a video2video task is polled until it runs): till
        # then only a callback brings a poll, so a refused one visibly changes nothing.
        polling={"callback_grace_seconds": 60, "initial_delay_seconds": 60},
    )


def post(relay: Relay, token: str, body: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return relay.anon.post(
        f"/callbacks/runway/{token}", content=content, headers={"Content-Type": "application/json"}
    )


def test_bad_tokens_are_refused_and_change_nothing(relay: Relay, sim: Simulator, sink: Sink):
    a = relay.submitted(**video2video())
    b = relay.submitted(**video2video())
    before = [relay.task(a["id"]), relay.task(b["id"])]
    token_a = token_of(a["callback_url"])
    done_a = envelope(a["upstream_task_id"], "SUCCESS")
    attempts = {
        "forged": (secrets.token_urlsafe(48), done_a),
        "signed with an unknown key": (mint(a["id"], secret="k" * 40), done_a),
        "tampered": (tampered(token_a), done_a),
        "expired": (mint(a["id"], age_seconds=3 * 24 * 3600), done_a),
        "another task's": (token_a, envelope(b["upstream_task_id"], "SUCCESS")),
    }
    for name, (token, body) in attempts.items():
        response = post(relay, token, body)
        assert response.status_code == 403, (name, response.text)
        assert response.json()["error"] == "forbidden" and response.json()["detail"], name
    assert [relay.task(a["id"]), relay.task(b["id"])] == before
    assert relay.api.get("/v1/deliveries").json()["deliveries"] == []
    # Each was refused for its own reason.
    metrics = relay.scrape()
    outcomes = {
        o: metric(metrics, "relay_callbacks_total", outcome=f"rejected_{o}")
        for o in ("bad_signature", "expired", "task_mismatch")
    }
    assert outcomes == {"bad_signature": 3, "expired": 1, "task_mismatch": 1}

    # The same body under the real token is taken: the refusals above were about the token.
    assert post(relay, token_a, done_a).status_code == 200
    taken_as_claim(relay, a["id"], "succeeded")
    assert relay.task(b["id"]) == before[1]
    ended_by_cometapi(relay, sim, a["id"], a["upstream_task_id"])
    metrics = relay.scrape()
    assert metric(metrics, "relay_callbacks_total", outcome="contradicted") == 1
    # b, whose callbacks were all refused, was neither polled nor delivered.
    assert relay.task(b["id"]) == before[1]
    wait_for(lambda: sink.received())
    assert {json.loads(h["body"])["data"]["task_id"] for h in sink.received()} == {a["id"]}


def test_old_secret_verifies_and_new_secret_signs(relay: Relay, sim: Simulator):
    task = relay.submitted(**video2video())
    issued = token_of(task["callback_url"])
    new = URLSafeTimedSerializer(SIGNING_SECRET, salt=_SALT)
    assert new.loads(issued) == {"t": task["id"]}
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer(OLD_SIGNING_SECRET, salt=_SALT).loads(issued)

    # A token the old secret signed before the rotation is still honoured.
    old_token = mint(task["id"], secret=OLD_SIGNING_SECRET, age_seconds=3600)
    response = post(relay, old_token, envelope(task["upstream_task_id"], "SUCCESS"))
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "task_id": task["id"], "duplicate": False}
    taken_as_claim(relay, task["id"], "succeeded")
    ended_by_cometapi(relay, sim, task["id"], task["upstream_task_id"])


def test_body_size_limit(relay: Relay, sim: Simulator):
    task = relay.submitted(**video2video())
    token = token_of(task["callback_url"])
    before = relay.task(task["id"])
    done = envelope(task["upstream_task_id"], "SUCCESS")

    def padded(size: int) -> bytes:
        """The success envelope, with an extra key padding it to exactly `size` bytes."""
        bare = len(json.dumps({**done, "pad": ""}).encode())
        body = json.dumps({**done, "pad": "x" * (size - bare)}).encode()
        assert len(body) == size
        return body

    too_big = padded(MAX_BODY + 1)
    response = post(relay, token, too_big)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(too_big), 64 * 1024):
            yield too_big[i : i + 64 * 1024]

    # No Content-Length at all: the limit must hold while the body streams in.
    response = relay.anon.post(f"/callbacks/runway/{token}", content=chunks())
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert relay.task(task["id"]) == before

    # Right at the limit is still a callback.
    assert post(relay, token, padded(MAX_BODY)).status_code == 200
    taken_as_claim(relay, task["id"], "succeeded")
    ended_by_cometapi(relay, sim, task["id"], task["upstream_task_id"])


def test_a_sender_hanging_up_mid_body_changes_nothing_and_logs_no_error(
    relay: Relay, sim: Simulator
):
    task = relay.submitted(**video2video())
    token = token_of(task["callback_url"])
    before = relay.task(task["id"])
    body = json.dumps(envelope(task["upstream_task_id"], "SUCCESS")).encode()
    with socket.create_connection(("127.0.0.1", relay.port)) as conn:
        conn.sendall(
            f"POST /callbacks/runway/{token} HTTP/1.1\r\nHost: relay\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.3)  # the relay has the head and half the body, then the sender is gone
    assert relay.task(task["id"]) == before
    # The same callback in full is taken, and nothing was logged as a failure meanwhile
    # (nor by the poll it brought).
    assert post(relay, token, body).status_code == 200
    taken_as_claim(relay, task["id"], "succeeded")
    ended_by_cometapi(relay, sim, task["id"], task["upstream_task_id"])
    assert [x for x in relay.log_lines() if x.get("level") in ("error", "critical")] == []


def test_unreadable_bodies_are_400_with_a_reason(relay: Relay):
    task = relay.submitted(**video2video())
    token = token_of(task["callback_url"])
    before = relay.task(task["id"])
    deep = b'{"code": 200, "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    bodies: dict[str, tuple[bytes, str]] = {
        "not JSON": (b"<html>502 Bad Gateway</html>", "not JSON"),
        "truncated": (b'{"code": 200, "data": {"status": "SUCC', "not JSON"),
        "invalid UTF-8": (b'{"code": 200, "data": {"status": "\xff\xfe"}}', "UTF-8"),
        "a list": (b'[{"code": 200}]', "top level"),
        "no data": (b'{"code": 200, "msg": "success"}', "data"),
        "data a string": (b'{"code": 200, "data": "SUCCESS"}', "data"),
        "data a list": (b'{"code": 200, "data": [{"status": "SUCCESS"}]}', "data"),
        "too deep": (deep, "nested too deeply"),
        # Python refuses to turn a 5000-digit number into an int; that is still a bad body.
        "huge number": (b'{"code": 1' + b"0" * 5000 + b', "data": {}}', "number too long"),
    }
    for name, (body, reason) in bodies.items():
        response = post(relay, token, body)
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"] == "bad_request", name
        assert reason in response.json()["detail"], (name, response.json())
    assert relay.task(task["id"]) == before


def drifted(upstream: str) -> list[dict[str, Any]]:
    """Bodies that drifted from the documented shape, but that CometAPI might still send."""
    return [
        # code as a word, times as ISO strings
        {
            "code": "success",
            "msg": "",
            "data": {
                "task_id": upstream,
                "status": "RUNNING",
                "create_time": "2026-03-13T01:52:46.000Z",
                "update_time": "2026-03-13T01:52:47.000Z",
            },
        },
        # almost every key missing
        {"data": {"status": "IN_PROGRESS"}},
        # keys nobody documented, types that drifted
        {
            "code": "200",
            "message": "ok",
            "exec_time": "0.1",
            "trace": [1, {"x": None}],
            "data": {
                "task_id": upstream,
                "state": "running",
                "progress": 50,
                "video_url": None,
                "create_time": 1773366766,
                "extra": {"deep": [1, 2]},
                "poster": 7,
            },
        },
        # text the store cannot hold as is: a NUL and a lone surrogate (no state in there)
        {
            "code": 200,
            "data": {"task_id": upstream, "status": "RUN\u0000NING\ud800", "msg": "\ud800\u0000"},
        },
    ]


def drifted_success(upstream: str) -> bytes:
    return json.dumps(
        {
            **envelope(upstream, "SUCCESS", create_time=1773366766, update_time="1773366799"),
            "exec_time": 0.02,
        }
    ).encode()


def test_drifted_bodies_are_accepted_and_duplicates_ignored(
    relay: Relay, sim: Simulator, sink: Sink
):
    task = relay.submitted(**video2video())
    token, upstream = token_of(task["callback_url"]), task["upstream_task_id"]
    for body in drifted(upstream):
        response = post(relay, token, body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"ok": True, "task_id": task["id"], "duplicate": False}
    # Each is kept as the claim it makes, read through the drift; none changed the task.
    stored = claims(relay.task(task["id"]))
    assert [(e["state"], e["applied"]) for e in stored] == [
        ("running", False),
        ("running", False),
        ("running", False),
        (None, False),
    ]
    assert [e["upstream_status"] for e in stored] == [
        "RUNNING",
        "IN_PROGRESS",
        "running",
        "RUNNING?",
    ]

    final = drifted_success(upstream)
    first = post(relay, token, final)
    assert first.status_code == 200
    assert first.json()["duplicate"] is False and "state" not in first.json()
    done = relay.wait_task(task["id"], lambda t: judged(t) and len(claims(t)) == 5)
    # The task is what CometAPI says; the claims are judged against it.
    assert done["state"] == upstream_state(sim, upstream) == "succeeded"
    assert done["outputs"] and f"https://cdn.test.invalid/{upstream}.mp4" not in done["outputs"]
    assert [(e["state"], e["verdict"]) for e in claims(done)] == [
        ("running", "confirmed"),
        ("running", "confirmed"),
        ("running", "confirmed"),
        (None, "confirmed"),  # a bare "ask CometAPI": answered
        ("succeeded", "contradicted"),  # not CometAPI's video
    ]
    assert {e["source"] for e in done["events"] if e["applied"]} == {"submit", "poll"}
    assert done["deliveries"] and all(d["state"] == "succeeded" for d in done["deliveries"])
    assert [json.loads(h["body"])["data"]["state"] for h in sink.received()][-1] == "succeeded"

    again = post(relay, token, final)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert relay.task(task["id"]) == done  # not stored again, no poll brought
    assert len(sink.received()) == len(done["deliveries"])  # the repeat sent nothing
    metrics = relay.scrape()
    counted = {
        o: metric(metrics, "relay_callbacks_total", outcome=o)
        for o in ("confirmed", "contradicted", "unconfirmed", "duplicate")
    }
    assert counted == {"confirmed": 4, "contradicted": 1, "unconfirmed": 0, "duplicate": 1}

    # A well-signed token for a task the relay never made.
    response = post(relay, mint("tsk_nope"), final)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_trusted_drifted_bodies_are_applied_and_delivered_as_sent(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
):
    """With `callbacks.trust_body` (the documented opt-out) a drifted body's state and outputs
    are applied at once and fanned out as sent, CometAPI or not: proof that the route reads
    them well enough to act on. CometAPI is unreachable while they are posted, so only the
    bodies can have moved the task; the claims are judged once it answers again."""
    sim.faults(drop_rate=1.0, poll_status=503)
    relay = make_relay(
        [webhook(sink, events=NOT_QUEUED)],
        callbacks={"trust_body": True},
        polling={"callback_grace_seconds": 60},
    )
    task = relay.submitted(**video2video())
    token, upstream = token_of(task["callback_url"]), task["upstream_task_id"]
    running = drifted(upstream)[0]
    assert post(relay, token, running).status_code == 200
    assert relay.task(task["id"])["state"] == "running"
    final = drifted_success(upstream)
    first = post(relay, token, final)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    body_video = f"https://cdn.test.invalid/{upstream}.mp4"
    now = relay.task(task["id"])
    assert (now["state"], now["outputs"]) == ("succeeded", [body_video])
    assert [(e["source"], e["applied"]) for e in now["events"]] == [
        ("submit", True),
        ("callback", True),
        ("callback", True),
    ]

    sim.faults(poll_status=None)  # CometAPI answers again: the claims get their verdicts
    done = relay.wait_task(task["id"], judged)
    assert [e["verdict"] for e in claims(done)] == ["confirmed", "contradicted"]
    assert (done["state"], done["outputs"]) == ("succeeded", [body_video])  # as trusted
    delivered = [json.loads(h["body"])["data"] for h in sink.received()]
    assert [(d["state"], d["outputs"]) for d in delivered] == [
        ("running", []),
        ("succeeded", [body_video]),
    ]

    again = post(relay, token, final)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert relay.task(task["id"]) == done
    assert len(sink.received()) == 2  # running, succeeded: the repeat sent nothing
