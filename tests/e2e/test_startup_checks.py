"""Start-up mistakes, through the real `receiver` command: each stops it in one line, before
anything is touched, and one line names every problem at once; a database that a newer
release has migrated is refused naming both versions."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from receiver.config import Settings, resolve
from receiver.kernel.errors import ConfigError
from receiver.kernel.store import open_store
from receiver.kernel.store.migrate import Migration, migrate, migrations
from tests.conftest import MakeRelay, relay_env
from tests.e2e.test_config import assert_one_line, base_settings, clean_env, serve
from tests.harness import Relay
from tests.testkit import to_toml


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"RECEIVER_ADMIN_TOKEN": "a"}, "server.admin_token_env"),
        ({"RECEIVER_ADMIN_TOKEN": "fifteen-chars-x"}, "server.admin_token_env"),
        ({"RECEIVER_SECRET": "short-secret"}, "callbacks.secret_env"),
    ],
)
def test_short_tokens_and_keys_are_refused(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(Settings(), relay_env(**env))
    assert str(caught.value).startswith(f"config key {key}: ")
    assert "at least 16 characters" in str(caught.value)
    secret = next(iter(env.values()))
    assert len(secret) < 3 or secret not in str(caught.value)


def test_receiver_serve_says_it_in_one_line_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve"],
        env=relay_env(RECEIVER_ADMIN_TOKEN="a", PATH="/usr/bin:/bin"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "server.admin_token_env" in done.stderr and "Traceback" not in done.stderr


def test_receiver_secret_prints_a_secret_that_start_up_accepts() -> None:
    secret = subprocess.run(
        [sys.executable, "-m", "receiver", "secret"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert secret.startswith("whsec_")
    settings = Settings.model_validate(
        {"downstream": [{"name": "d", "url": "http://127.0.0.1:9/", "secret_env": "S"}]}
    )
    assert resolve(settings, relay_env(S=secret)).downstreams[0].secret == secret


def _migrate_past_this_release(storage_url: str) -> Migration:
    """Apply, through the real migration code, one migration this release does not ship:
    the database as a newer release leaves it."""
    shipped = migrations()
    later = Migration(9999, "9999_from_a_later_release.sql", "CREATE TABLE later (id INT)")

    async def run() -> None:
        store = open_store(storage_url)
        try:
            await store.run(lambda db: migrate(db, [*shipped, later]), timeout=None)
        finally:
            await store.close()

    asyncio.run(run())
    return later


@pytest.mark.parametrize("command", ["serve", "deliver"])
def test_a_schema_newer_than_this_release_is_refused_in_one_line(
    make_relay: MakeRelay, storage_url: str, command: str
) -> None:
    later = _migrate_past_this_release(storage_url)
    relay = make_relay(start=False, delivery={"in_process": False})
    done = subprocess.run(
        [sys.executable, "-m", "receiver", command, "--config", str(relay.config_path)],
        capture_output=True,
        text=True,
        env=relay.env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    line = done.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line, done.stderr
    newest = migrations()[-1].version
    assert f"schema is at version {later.version}, newer than this release knows" in line
    assert f"(up to {newest})" in line


def test_a_port_in_use_is_one_line_and_nothing_is_touched(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = base_settings(tmp_path, port)
        (tmp_path / "relay.toml").write_text(to_toml(settings))
        done = serve(["--config", "relay.toml"], clean_env(PORT=str(port)), tmp_path)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.splitlines() == [f"receiver: port {port} is already in use"]
    # No migration ran: no worker started and no lease was touched.
    with closing(sqlite3.connect(tmp_path / "relay.db")) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_every_config_problem_and_missing_variable_in_one_line(tmp_path: Path) -> None:
    settings = base_settings(tmp_path)
    settings["server"]["bogus"] = 1
    settings["advanced"]["polling"]["interval_seconds"] = "soon"
    settings["downstream"] = [{"name": "hook", "url_env": "HOOK_URL"}]
    (tmp_path / "relay.toml").write_text(to_toml(settings))
    env = clean_env()
    for name in ("COMETAPI_KEY", "RECEIVER_SECRET"):
        env.pop(name)
    done = serve(["--config", "relay.toml"], env, tmp_path)
    assert_one_line(
        done,
        "receiver: config error: unknown key `server.bogus`; ",
        "config key polling.interval_seconds: Input should be a valid number",
        "config key upstream.api_key_env: environment variable COMETAPI_KEY is not set",
        "config key callbacks.secret_env: environment variable RECEIVER_SECRET is not set",
        "config key downstream.0.url_env: environment variable HOOK_URL is not set",
    )


def test_port_with_no_host_configured_listens_on_every_interface(tmp_path: Path) -> None:
    """$PORT is what a platform's router reaches from outside (gunicorn's convention)."""
    settings = base_settings(tmp_path)
    del settings["server"]["host"], settings["server"]["port"]
    relay = Relay(tmp_path, settings, relay_env())  # which sets PORT
    try:
        relay.start()
        [line] = [x for x in relay.log_lines() if x.get("event") == "server.listening"]
        assert line["address"] == f"0.0.0.0:{relay.port}"
    finally:
        relay.stop()
        relay.close()
