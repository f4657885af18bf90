"""Operator tools against a running relay: the CLI, the admin delivery routes, /metrics.

The CLI runs as `python -m receiver ...` on the relay's own config file, on both backends,
while the relay keeps serving; what it queues for replay the relay then delivers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests import forked
from tests.conftest import MakeRelay, relay_env, webhook
from tests.harness import (
    WAIT_SECONDS,
    Relay,
    Simulator,
    Sink,
    image_to_video,
    relay_settings,
    settled,
    video2video,
    wait_for,
)
from tests.testkit import free_port, to_toml


def cli(relay: Relay, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RECEIVER_CONFIG"}
    return forked.run([*args, "--config", str(relay.config_path)], env, WAIT_SECONDS)


def ok(relay: Relay, *args: str) -> str:
    done = cli(relay, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a CLI table, cut at the columns its dashed rule marks (so it must align)."""
    header, rule, *body = text.strip("\n").splitlines()
    spans = [m.span() for m in re.finditer(r"-+", rule)]
    names = [header[a:b].strip() for a, b in spans]
    assert " ".join(names) == " ".join(header.split()), "header does not line up with rule"
    return [{n: line[a:b].strip() for n, (a, b) in zip(names, spans, strict=True)} for line in body]


def dead_letter_setup(
    make_relay: MakeRelay, make_sink: Any
) -> tuple[Relay, Sink, list[dict[str, Any]]]:
    """Three finished tasks (one failed); `hook` answered 404 (dead), `audit` 200.
    (410 Gone would disable it: tests/e2e/test_task_routing.py.)"""
    gone, fine = make_sink(), make_sink()
    gone.mode(status=404)
    relay = make_relay([webhook(gone, "hook"), webhook(fine, "audit")])
    prompts = ["one", "FAIL two", "three"]
    ids = [relay.submit(**image_to_video(promptText=p)).json()["id"] for p in prompts]
    tasks = [relay.wait_task(t, settled) for t in ids]
    return relay, gone, tasks


def hook_delivery(task: dict[str, Any]) -> dict[str, Any]:
    [delivery] = [d for d in task["deliveries"] if d["downstream"] == "hook"]
    return delivery


def test_cli_inspects_and_replays(make_relay: MakeRelay, sim: Simulator, make_sink: Any):
    relay, gone, tasks = dead_letter_setup(make_relay, make_sink)
    ids = [t["id"] for t in tasks]

    listed = parse_table(ok(relay, "tasks", "list"))
    assert [r["id"] for r in listed] == ids[::-1]  # newest first
    assert [r["state"] for r in listed] == ["succeeded", "failed", "succeeded"]
    assert {r["kind"] for r in listed} == {"image_to_video"}
    assert {(r["app"], r["in line"], r["sends"]) for r in listed} == {("-", "-", "1")}
    assert [r["id"] for r in parse_table(ok(relay, "tasks", "list", "--state", "failed"))] == [
        ids[1]
    ]

    summary, rest = ok(relay, "tasks", "show", ids[0]).split("\nevents\n")
    summary, sends = summary.split("\nsends to CometAPI\n")
    events, deliveries = rest.split("\ndeliveries\n")
    assert re.search(r"^\s+state: succeeded$", summary, re.M)
    # Times and progress print as `tasks list` prints them.
    assert re.search(r"^\s+created_at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", summary, re.M)
    assert re.search(r"^\s+progress: 100%$", summary, re.M)
    assert listed[-1]["created"] in summary
    assert re.search(r"^\s+submission: sent$", summary, re.M)
    assert [(r["attempt"], r["status"], r["outcome"]) for r in parse_table(sends)] == [
        ("1", "200", "accepted")
    ]
    assert [(e["source"], e["state"]) for e in parse_table(events)][-1] == ("poll", "succeeded")
    shown = {d["downstream"]: d for d in parse_table(deliveries)}
    assert (shown["hook"]["state"], shown["hook"]["last status"]) == ("dead", "404")
    assert shown["hook"]["last error"].startswith("HTTP 404")
    assert shown["audit"]["state"] == "succeeded"

    dead = parse_table(ok(relay, "deliveries", "list", "--state", "dead", "--downstream", "hook"))
    assert sorted(r["id"] for r in dead) == sorted(hook_delivery(t)["id"] for t in tasks)
    assert {(r["downstream"], r["state"], r["attempts"]) for r in dead} == {("hook", "dead", "1")}
    none = ok(relay, "deliveries", "list", "--state", "dead", "--downstream", "audit")
    assert parse_table(none) == []

    # The downstream is fixed: one dead letter replayed by id, then the rest by downstream.
    gone.mode(status=200)
    first = hook_delivery(tasks[0])["id"]
    assert ok(relay, "replay", first).strip() == "queued 1 delivery for replay"
    relay.wait_task(ids[0], lambda t: hook_delivery(t)["state"] == "succeeded")
    assert [h["status"] for h in gone.received() if h["headers"]["webhook-id"] == first] == [
        404,
        200,
    ]
    assert len(parse_table(ok(relay, "deliveries", "list", "--state", "dead"))) == 2

    assert ok(relay, "replay", "--dead-letters-of", "hook").strip() == (
        "hook: queued 2 dead letters for replay"
    )
    for task_id in ids[1:]:
        relay.wait_task(task_id, lambda t: hook_delivery(t)["state"] == "succeeded")
    assert parse_table(ok(relay, "deliveries", "list", "--state", "dead")) == []

    usage = cli(relay, "replay")
    assert usage.returncode == 2 and "--dead-letters-of" in usage.stderr
    # An id that is not there is an error: exit status 1, one line.
    missing = cli(relay, "tasks", "show", "tsk_missing")
    assert missing.returncode == 1 and "no task tsk_missing" in missing.stderr
    nope = cli(relay, "replay", "msg_nope")
    assert nope.returncode == 1
    # Which way it went (the store, asked with --config), then the error.
    assert nope.stderr.splitlines()[-1] == "receiver: 1 of the ids given is no delivery"
    assert nope.stderr.splitlines()[0].startswith("(on the store at sqlite:///")
    # The same time forms as the API: epoch seconds, or ISO 8601.
    for since in ("0", "2026-01-01T00:00:00Z"):
        assert ok(relay, "downstreams", "enable", "hook", "--recover-since", since).startswith(
            "hook: enabled; "
        )


def test_a_command_that_reads_the_store_never_makes_one(tmp_path: Path) -> None:
    config = tmp_path / "relay.toml"
    absent = tmp_path / "nowhere.db"
    config.write_text(to_toml({"storage": {"url": f"sqlite:///{absent}"}}))
    env = {k: v for k, v in os.environ.items() if k != "RECEIVER_CONFIG"}
    for command in (["tasks", "list"], ["replay", "msg_x"], ["deliveries", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "receiver", *command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            env=env,
            check=False,
        )
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.splitlines() == [
            f"receiver: no store at {absent}, the storage.url of {config}: give the relay's"
            " config (--config or $RECEIVER_CONFIG)"
        ]
    assert not absent.exists()


def test_admin_delivery_routes(make_relay: MakeRelay, sim: Simulator, make_sink: Any):
    relay, gone, tasks = dead_letter_setup(make_relay, make_sink)
    first, *others = [hook_delivery(t)["id"] for t in tasks]
    query = {"state": "dead", "downstream": "hook"}

    wrong = httpx.Client(base_url=relay.url, headers={"Authorization": "Bearer wrong"})
    for client in (relay.anon, wrong):
        for response in (
            client.get("/v1/deliveries", params=query),
            client.post(f"/v1/deliveries/{first}/replay"),
            client.post("/v1/deliveries/replay", params={"downstream": "hook"}),
        ):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
    wrong.close()
    dead = relay.api.get("/v1/deliveries", params=query).json()["deliveries"]
    assert sorted(d["id"] for d in dead) == sorted([first, *others])  # nothing was replayed

    assert relay.api.get("/v1/deliveries", params={"state": "lost"}).status_code == 400
    audit = relay.api.get("/v1/deliveries", params={"state": "dead", "downstream": "audit"})
    assert audit.json() == {"deliveries": []}
    assert relay.api.post("/v1/deliveries/msg_missing/replay").status_code == 404
    assert relay.api.post("/v1/deliveries/replay").status_code == 400

    gone.mode(status=200)
    assert relay.api.post(f"/v1/deliveries/{first}/replay").json() == {"replayed": 1}
    relay.wait_task(tasks[0]["id"], lambda t: hook_delivery(t)["state"] == "succeeded")
    replayed = relay.api.post("/v1/deliveries/replay", params={"downstream": "hook"})
    assert replayed.json() == {"replayed": 2}
    for task in tasks[1:]:
        relay.wait_task(task["id"], lambda t: hook_delivery(t)["state"] == "succeeded")
    assert relay.api.get("/v1/deliveries", params=query).json() == {"deliveries": []}
    delivered = [h["headers"]["webhook-id"] for h in gone.received() if h["status"] == 200]
    assert sorted(delivered) == sorted([first, *others])


def scrape(relay: Relay) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    response = relay.metrics.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_follow_a_scenario(make_relay: MakeRelay, sim: Simulator, make_sink: Any):
    fine, gone, flaky = make_sink(), make_sink(), make_sink()
    gone.mode(status=404)
    flaky.mode(status=503)
    relay = make_relay(
        [webhook(fine, "ok"), webhook(gone, "gone"), webhook(flaky, "flaky")],
        delivery={"retry_schedule": [60]},  # flaky's retry stays queued during the test
    )
    before = scrape(relay)
    assert before[("relay_outbox", (("state", "pending"),))] == 0
    assert before[("relay_callback_seconds_count", ())] == 0

    v2v = [relay.submit(**video2video()).json() for _ in range(2)]
    i2v = relay.submit(**image_to_video()).json()
    assert relay.anon.post("/callbacks/runway/forged.token.value", content=b"{}").status_code == 403
    assert relay.anon.post(v2v[0]["callback_url"], content=b"{not json").status_code == 400
    ids = [v["id"] for v in v2v] + [i2v["id"]]

    def attempted(task: dict[str, Any]) -> bool:
        return task["state"] == "succeeded" and all(d["attempts"] for d in task["deliveries"])

    for task_id in ids:
        relay.wait_task(task_id, attempted)
    m = scrape(relay)

    def value(name: str, **labels: str) -> float:
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    # Each genuine callback is confirmed by the poll it brings (the bad body is refused).
    assert value("relay_callbacks_total", outcome="confirmed") == 2
    assert value("relay_callbacks_total", outcome="rejected_bad_signature") == 1
    assert value("relay_callbacks_total", outcome="rejected_bad_body") == 1
    assert value("relay_callback_seconds_count") == 4
    assert value("relay_submits_total", kind="video2video", outcome="accepted") == 2
    assert value("relay_deliveries_total", downstream="ok", outcome="succeeded") == 3
    assert value("relay_deliveries_total", downstream="gone", outcome="dead") == 3
    assert value("relay_deliveries_total", downstream="flaky", outcome="retry") == 3
    assert value("relay_delivery_seconds_count", downstream="ok") == 3
    assert value("relay_outbox", state="succeeded") == 3
    assert value("relay_outbox", state="dead") == 3  # dead-letter size
    assert value("relay_outbox", state="pending") == 3  # retry queue depth
    assert value("relay_tasks", state="succeeded") == 3
    # Every poll made is counted, by what CometAPI answered.
    polls = sim.stats()["polls"]
    outcomes = ("observed", "not_exist", "error")
    assert sum(value("relay_polls_total", outcome=o) for o in outcomes) == polls
    assert value("relay_polls_total", outcome="observed") >= 1
    assert value("relay_poll_seconds_count") == polls

    # Replaying the dead letters once `gone` recovers empties the dead-letter gauge.
    gone.mode(status=200)
    assert relay.api.post("/v1/deliveries/replay", params={"downstream": "gone"}).json() == {
        "replayed": 3
    }
    wait_for(lambda: scrape(relay)[("relay_outbox", (("state", "succeeded"),))] == 6)
    m = scrape(relay)
    assert value("relay_deliveries_total", downstream="gone", outcome="succeeded") == 3
    assert value("relay_outbox", state="dead") == 0
    assert value("relay_outbox", state="pending") == 3
    assert value("relay_delivery_seconds_count", downstream="gone") == 6


def test_database_down_is_one_line_not_a_hang(tmp_path: Path):
    down = f"postgresql://127.0.0.1:{free_port()}/test"  # nothing listens there
    config = tmp_path / "down.toml"
    config.write_text(to_toml(relay_settings(down, "http://127.0.0.1:9", "http://127.0.0.1:9")))
    env = {**os.environ, **relay_env(), "PORT": str(free_port())}
    for command in (["serve"], ["deliveries", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "receiver", *command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,  # a hang, not a slow answer: the refusal is immediate
            env=env,
            check=False,
        )
        assert (done.returncode, done.stdout) == (2, "")
        [line] = done.stderr.splitlines()
        assert line.startswith("receiver: storage error: cannot connect to PostgreSQL: ")
        assert "Connection refused" in line
