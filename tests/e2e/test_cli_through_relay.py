"""The operator's commands through a running relay alone (issue 92): with $RECEIVER_URL and a
token, and no store in reach (every store setting points where nothing is), each command
that reads or changes the relay's state does what it did on the store, in the same words,
and says on stderr that it went through the relay; an app's key is taken where the API
takes one. With neither a relay nor --store, the error is one line in words."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import forked
from tests.conftest import MakeRelay
from tests.e2e.test_app_downstreams import _app
from tests.e2e.test_cli_offline import _app_delivery, _waiting
from tests.e2e.test_operator import parse_table
from tests.harness import ADMIN_TOKEN, WAIT_SECONDS, Relay, Sink
from tests.testkit import free_port


def _through(
    relay: Relay, tmp_path: Path, *args: str, token: str = ADMIN_TOKEN, env_name: str = ""
) -> subprocess.CompletedProcess[str]:
    """`receiver ARGS` with the relay's address and a token, in a folder with no store, every
    store setting pointing at a file that does not exist."""
    nowhere = tmp_path / "no-such-folder"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        {
            "RECEIVER_URL": relay.url,
            env_name or "RECEIVER_ADMIN_TOKEN": token,
            "RECEIVER_CONFIG": str(nowhere / "relay.toml"),
            "RECEIVER__STORAGE__URL": f"sqlite:///{nowhere / 'relay.db'}",
        }
    )
    tmp_path.mkdir(exist_ok=True)
    return forked.run(list(args), env, WAIT_SECONDS, cwd=tmp_path)


def _ok(relay: Relay, done: subprocess.CompletedProcess[str]) -> str:
    """Done through the relay, and said so, in one line on stderr: its stdout."""
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stderr.splitlines()[-1] == f"(through the relay at {relay.url})", done.stderr
    return done.stdout


def _one_line(done: subprocess.CompletedProcess[str], status: int, *words: str) -> str:
    assert done.returncode == status, (done.stdout, done.stderr)
    [line] = done.stderr.splitlines()
    assert line.startswith("receiver: ") and all(w in line for w in words), line
    return line


def test_every_state_command_works_through_the_relay_with_no_store_in_reach(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
) -> None:
    relay, task_id = _waiting(make_relay, sink)

    def cli(*args: str) -> str:
        return _ok(relay, _through(relay, tmp_path, *args))

    [row] = parse_table(cli("tasks", "list"))
    assert row["id"] == task_id
    shown = cli("tasks", "show", task_id)
    assert "acme-studio/hooks" in shown and "app_" not in shown
    [row] = parse_table(cli("deliveries", "list", "--downstream", "acme-studio/hooks"))
    assert (row["task"], row["downstream"]) == (task_id, "acme-studio/hooks")
    listed = parse_table(cli("downstreams", "list"))
    assert sorted(row["name"] for row in listed) == ["acme-studio/hooks", "fixed"]

    assert cli("downstreams", "disable", "acme-studio/hooks") == "acme-studio/hooks: disabled\n"
    assert _app_delivery(relay, task_id)["state"] == "held"
    enabled = cli("downstreams", "enable", "acme-studio/hooks", "--recover-since", "1h")
    assert enabled == "acme-studio/hooks: enabled; 1 delivery queued\n"
    assert cli("replay", "--dead-letters-of", "fixed") == (
        "fixed: queued 0 dead letters for replay\n"
    )
    delivery_id = _app_delivery(relay, task_id)["id"]
    assert cli("replay", delivery_id) == "queued 1 delivery for replay\n"
    assert cli("media", "prune").startswith("removed 0 files, 0 bytes, older than")
    assert cli("prune", "--dry-run").startswith("would remove 0 tasks that ended more than")
    assert cli("prune").startswith("removed 0 tasks")
    assert "acme-studio" in cli("apps", "list")
    assert "acme-studio-key" in cli("keys", "list")

    # A name that is no downstream: one line, exit 1, naming what a bare name may have meant.
    for args in (
        ("deliveries", "list", "--downstream", "hooks"),
        ("replay", "--dead-letters-of", "hooks"),
        ("downstreams", "disable", "hooks"),
    ):
        line = _one_line(_through(relay, tmp_path, *args), 1, "'hooks'")
        assert "acme-studio/hooks" in line, line


def test_an_apps_key_reads_and_acts_on_its_own(
    make_relay: MakeRelay, sink: Sink, tmp_path: Path
) -> None:
    relay, _ = _waiting(make_relay, sink)
    key = _app(relay, "other").headers["Authorization"].removeprefix("Bearer ")
    # Its own app has nothing yet; another app's downstream is no such one.
    done = _through(relay, tmp_path, "deliveries", "list", token=key, env_name="RECEIVER_API_KEY")
    assert parse_table(_ok(relay, done)) == []
    refused = _through(
        relay, tmp_path, "downstreams", "disable", "hooks", token=key, env_name="RECEIVER_API_KEY"
    )
    _one_line(refused, 1, "'hooks'")


@pytest.mark.parametrize(
    "args",
    [("tasks", "list"), ("deliveries", "list"), ("downstreams", "list"), ("prune", "--dry-run")],
)
def test_with_neither_a_relay_nor_the_store_the_error_is_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    # No token: what to set, and --store.
    done = forked.run(list(args), env, WAIT_SECONDS, cwd=tmp_path)
    _one_line(done, 2, "RECEIVER_ADMIN_TOKEN", "--store")
    # A token, but no relay there: which address, and --store.
    away = f"http://127.0.0.1:{free_port()}"
    env.update({"RECEIVER_URL": away, "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN})
    done = forked.run(list(args), env, WAIT_SECONDS, cwd=tmp_path)
    _one_line(done, 2, f"cannot reach the relay at {away}", "--store")
    # --store with no store there: the store's own one line.
    done = forked.run([*args, "--store"], env, WAIT_SECONDS, cwd=tmp_path)
    _one_line(done, 2, "no store at")
