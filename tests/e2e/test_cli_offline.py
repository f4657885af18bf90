"""The operator tools over the store, as a new user met them beside a relay that has an
app's downstream (issue 72), on both backends: run without the relay's secret they touch no
row they were not asked about, and refuse in one line what needs it; `enable` frees what was
held; an app's downstream is `APP/NAME` in every table, option and message, and a name that
is no downstream is an error, exit 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from tests import forked
from tests.conftest import MakeRelay, relay_env, webhook
from tests.e2e.test_app_downstreams import _app, _made
from tests.e2e.test_operator import parse_table
from tests.harness import ADMIN_TOKEN, WAIT_SECONDS, Relay, Sink, image_to_video, wait_for
from tests.testkit import free_port

pytestmark = pytest.mark.every_backend


def _cli(
    relay: Relay, *args: str, keyed: bool = False, secret: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`receiver ARGS --config` as an operator runs it: with none of the relay's secrets in
    the environment, or (`keyed`) with them, as the relay has them, or with `secret` as
    $RECEIVER_SECRET."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    if keyed:
        env.update(relay_env())
    if secret is not None:
        env["RECEIVER_SECRET"] = secret
    return forked.run([*args, "--config", str(relay.config_path)], env, WAIT_SECONDS)


def _api(relay: Relay, *args: str) -> subprocess.CompletedProcess[str]:
    """`receiver ARGS` as a client of the running relay, with the admin token."""
    env = {**os.environ, "RECEIVER_URL": relay.url, "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN}
    return forked.run(list(args), env, WAIT_SECONDS)


def _one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """A refusal: exit 1, one line on stderr saying `words`, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    [line] = done.stderr.splitlines()
    assert line.startswith("receiver: ") and all(w in line for w in words), line
    return line


def _app_delivery(relay: Relay, task_id: str) -> dict[str, Any]:
    [found] = [d for d in relay.task(task_id)["deliveries"] if d["downstream"] != "fixed"]
    return dict(found)


def _waiting(make_relay: MakeRelay, sink: Sink) -> tuple[Relay, str]:
    """A relay with a global downstream `fixed` and acme-studio's `hooks`, which is away:
    one delivery to it pending its next attempt, a minute off."""
    relay = make_relay([webhook(sink, "fixed")], delivery={"retry_schedule": [60, 60]})
    acme = _app(relay, "acme-studio")
    away = f"http://127.0.0.1:{free_port()}/hooks"
    _made(acme, name="hooks", url=away, events=["succeeded"])
    answer = acme.post("/v1/tasks", json=image_to_video())
    assert answer.status_code == 202, answer.text
    task_id = str(answer.json()["id"])

    def tried() -> bool:
        found = [d for d in relay.task(task_id)["deliveries"] if d["downstream"] != "fixed"]
        return bool(found) and found[0]["state"] == "pending" and found[0]["attempts"] >= 1

    wait_for(tried)
    return relay, task_id


def test_without_the_relays_secret_no_other_row_changes_and_enable_frees_held_rows(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay, task_id = _waiting(make_relay, sink)
    for args in (("replay", "--dead-letters-of", "fixed"), ("downstreams", "disable", "fixed")):
        done = _cli(relay, *args)
        assert done.returncode == 0, done.stderr
    # The app's delivery was not asked about: it still waits for its next attempt.
    assert _app_delivery(relay, task_id)["state"] == "pending"
    assert _cli(relay, "downstreams", "enable", "fixed").returncode == 0

    # Enabling the app's needs the secret its own is sealed with: refused, nothing changed.
    line = _one_line(_cli(relay, "downstreams", "enable", "acme-studio/hooks"), "RECEIVER_SECRET")
    assert "acme-studio/hooks" in line
    assert _app_delivery(relay, task_id)["state"] == "pending"

    # With it: disabled, its delivery is held; enabled, it is queued again and not held.
    done = _cli(relay, "downstreams", "disable", "acme-studio/hooks", keyed=True)
    assert done.stdout == "acme-studio/hooks: disabled\n", done.stderr
    assert _app_delivery(relay, task_id)["state"] == "held"
    # A secret that is not the relay's opens nothing: said, and what it queued waits held.
    wrong = _cli(relay, "downstreams", "enable", "acme-studio/hooks", secret="x" * 40)
    assert wrong.returncode == 0 and "does not open" in wrong.stderr, wrong.stderr
    assert _app_delivery(relay, task_id)["state"] == "held"
    done = _cli(
        relay, "downstreams", "enable", "acme-studio/hooks", "--recover-since", "0", keyed=True
    )
    assert done.stdout == "acme-studio/hooks: enabled; 1 delivery queued\n", done.stderr
    again = wait_for(lambda: (d := _app_delivery(relay, task_id))["attempts"] >= 2 and d)
    assert again["state"] == "pending", again


def test_an_apps_downstream_is_app_slash_name_and_an_unknown_name_an_error(
    make_relay: MakeRelay, sink: Sink
) -> None:
    relay, task_id = _waiting(make_relay, sink)
    listed = parse_table(_cli(relay, "downstreams", "list").stdout)
    assert sorted(row["name"] for row in listed) == ["acme-studio/hooks", "fixed"]

    done = _cli(relay, "deliveries", "list", "--downstream", "acme-studio/hooks")
    assert done.returncode == 0, done.stderr
    [row] = parse_table(done.stdout)
    assert (row["task"], row["downstream"]) == (task_id, "acme-studio/hooks")
    shown = _cli(relay, "tasks", "show", task_id).stdout
    assert "acme-studio/hooks" in shown and "app_" not in shown

    # A name that is no downstream: one line, exit 1, naming what a bare name may have meant.
    for args in (
        ("deliveries", "list", "--downstream", "hooks"),
        ("replay", "--dead-letters-of", "hooks"),
        ("downstreams", "disable", "hooks"),
    ):
        assert "acme-studio/hooks" in _one_line(_cli(relay, *args), "'hooks'")
    _one_line(_cli(relay, "deliveries", "list", "--downstream", "nobody/hooks"), "no app")
    _one_line(_cli(relay, "downstreams", "enable", "acme-studio/nope"), "no downstream")

    # What it counts, in words that agree with the count.
    done = _cli(relay, "replay", "--dead-letters-of", "acme-studio/hooks")
    assert done.stdout == "acme-studio/hooks: queued 0 dead letters for replay\n", done.stderr

    # Through the running relay's API, the same names.
    made = _api(relay, "downstreams", "create", "acme-studio/more", f"{relay.url}/nowhere")
    assert made.stdout.startswith("acme-studio/more: made ("), made.stderr
    rotated = _api(relay, "downstreams", "rotate", "acme-studio/hooks")
    assert rotated.stdout.startswith("secret: whsec_"), rotated.stderr
    _one_line(_api(relay, "downstreams", "rotate", "hooks"), "'hooks'")
    _one_line(_api(relay, "downstreams", "remove", "acme-studio/nope"), "acme-studio/nope")
    removed = _api(relay, "downstreams", "remove", "acme-studio/more")
    assert removed.stdout == "acme-studio/more: removed; 0 waiting deliveries ended\n"
    env = {**os.environ, "RECEIVER_URL": relay.url, "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN}
    tail = subprocess.Popen(
        [sys.executable, "-m", "receiver", "tail", "--since", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(tail.stdout or ()), daemon=True).start()
    try:
        said = wait_for(
            lambda: next((x for x in list(lines) if " attempt " in x and "-> fix" not in x), None)
        )
    finally:
        tail.send_signal(signal.SIGINT)
        tail.wait(WAIT_SECONDS)
    assert f"{task_id}  -> acme-studio/hooks #1" in said, said
    delivery_id = _app_delivery(relay, task_id)["id"]
    assert _cli(relay, "replay", delivery_id).stdout == "queued 1 delivery for replay\n"
