"""Secrets too short to be safe stop start-up with one line naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from receiver.config import Settings, resolve
from receiver.errors import ConfigError
from tests.conftest import relay_env


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
