"""A malformed `RECEIVER__*` variable, through the real `receiver serve` and `receiver config
show`: one line naming the variable and exit 2, never a traceback, whatever it holds (JSON
nested 50,000 deep, a storage URL urllib cannot read, bytes that are not UTF-8); and `config
show` prints no URL's user part or query value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_config import clean_env
from tests.harness import WAIT_SECONDS

DEEP = "[" * 50_000 + "]" * 50_000

MALFORMED = [
    ("deep-json", "RECEIVER__DELIVERY__RETRY_SCHEDULE", DEEP, "nested at most"),
    ("json-past-the-bound", "RECEIVER__SERVER__TRUSTED_PROXIES", "[" * 40 + "]" * 40, "deep"),
    ("ipv6-unclosed", "RECEIVER__STORAGE__URL", "postgresql://relay@[bad/relay", "its host"),
    ("port-not-a-number", "RECEIVER__STORAGE__URL", "postgresql://relay@db:abc/relay", "port"),
    # A password with a slash cut the host short: the port urllib reads is the password.
    ("password-read-as-port", "RECEIVER__STORAGE__URL", "postgresql://u:pw-0000/x@db/r", "port"),
    ("not-utf-8", "RECEIVER__SERVER__PUBLIC_URL", "https://relay.example/\udcff", "UTF-8"),
]


def _run(command: str, name: str, value: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # subprocess encodes the environment as the file system does: "\udcff" goes as byte 0xff.
    env = clean_env(**{name: value})
    return subprocess.run(
        [sys.executable, "-m", "receiver", *command.split()],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=WAIT_SECONDS,  # a value wrongly accepted makes `serve` run: this ends it
    )


@pytest.mark.parametrize("command", ["serve", "config show"])
@pytest.mark.parametrize(
    ("name", "value", "why"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_variable_is_one_line_naming_it(
    tmp_path: Path, command: str, name: str, value: str, why: str
) -> None:
    done = _run(command, name, value, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("receiver: config error: ") and len(lines[0]) < 400
    assert name in lines[0] and why in lines[0], lines[0]
    assert "pw-0000" not in lines[0]
    assert not list(tmp_path.iterdir())  # nothing made: no database, no lock file


def test_config_show_masks_every_url_user_part_and_query_value(tmp_path: Path) -> None:
    storage = "postgresql://relay:db-pass-0000@127.0.0.1:5432/relay?sslmode=require&password=q-0000"
    hooks = (
        '[{"name": "hook", "url": "https://hooks.example/in?token=tok-0000&sig=sig-0000"},'
        ' {"name": "basic", "url": "https://user-0000:pw-0000@hooks.example/x"}]'
    )
    env = clean_env(
        RECEIVER__STORAGE__URL=storage,
        RECEIVER__DOWNSTREAM=hooks,
        RECEIVER__UPSTREAM__BASE_URL="https://key-0000@api.example/v1?key=k-0000",
    )
    env.pop("RECEIVER_CONFIG", None)
    shown = subprocess.run(
        [sys.executable, "-m", "receiver", "config", "show"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=True,
    ).stdout
    for secret in ("db-pass", "q-0000", "tok-0000", "sig-0000", "user-0000", "pw-0000", "k-0000"):
        assert secret not in shown
    assert "key-0000" not in shown
    assert (
        'url = "postgresql://********@127.0.0.1:5432/relay?sslmode=********&password=********"'
        in shown
    )
    assert 'url = "https://hooks.example/in?token=********&sig=********"' in shown
    assert 'url = "https://********@hooks.example/x"' in shown
    assert 'base_url = "https://********@api.example/v1?key=********"' in shown


def test_a_wrong_server_key_and_a_missing_admin_token_are_said_at_once(tmp_path: Path) -> None:
    """The rest of a section with a wrong key is still checked: the variables it names."""
    config = tmp_path / "relay.toml"
    config.write_text('[server]\nport = "eighty"\n')
    env = clean_env(RECEIVER_CONFIG=str(config))
    env.pop("RECEIVER_ADMIN_TOKEN")
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = done.stderr.splitlines()
    assert "config key server.port: " in line, line
    assert "server.admin_token_env: environment variable RECEIVER_ADMIN_TOKEN is not set" in line
