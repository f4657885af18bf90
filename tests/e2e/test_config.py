"""`receiver serve` and its configuration: a bad config is one line on stderr naming the key
and the reason, never a traceback; $PORT and $RECEIVER_CONFIG do what they say."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.config.names import ADVANCED
from tests.conftest import relay_env
from tests.harness import (
    SECRETS,
    WAIT_SECONDS,
    Relay,
    relay_settings,
    wait_for,
)
from tests.testkit import free_port, to_toml


def base_settings(tmp_path: Path, port: int | None = None) -> dict[str, Any]:
    """A config that would start (nothing upstream is contacted before a task is submitted)."""
    port = port or free_port()
    return relay_settings(
        f"sqlite:///{tmp_path / 'relay.db'}",
        f"http://127.0.0.1:{port}",
        "http://127.0.0.1:9",
        server={"port": port},
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "RECEIVER_CONFIG")}
    return {**env, **relay_env(), "PYTHONUNBUFFERED": "1", **extra}


def serve(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A config that is wrongly accepted makes the server run: the timeout turns that into a
    # failure (and kills it).
    return subprocess.run(
        [sys.executable, "-m", "receiver", "serve", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )


def drop(name: str) -> Callable[[dict[str, str]], None]:
    return lambda env: env.pop(name)


def setting(section: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    """A change to keys of a section, each written where a current file has it."""

    def change(settings: dict[str, Any]) -> None:
        for key, value in values.items():
            if key in ADVANCED.get(section, ()):
                settings["advanced"][section][key] = value
            else:
                settings[section][key] = value

    return change


# (id, change to the settings, change to the env, raw TOML appended, what stderr must say)
BAD: list[tuple[str, Any, Any, str, tuple[str, ...]]] = [
    (
        "unknown key",
        setting("server", bogus=1),
        None,
        "",
        ("unknown key `server.bogus`",),
    ),
    (
        "wrong type",
        setting("polling", interval_seconds="soon"),
        None,
        "",
        ("config key polling.interval_seconds", "valid number"),
    ),
    (
        "out of range",
        setting("delivery", jitter=2),
        None,
        "",
        ("config key delivery.jitter", "less than or equal to 1"),
    ),
    (
        "secret env var unset",
        None,
        drop("COMETAPI_KEY"),
        "",
        ("config key upstream.api_key_env", "COMETAPI_KEY is not set"),
    ),
    (
        "previous secret unset",
        setting("callbacks", previous_secret_envs=["NO_SUCH_SECRET"]),
        None,
        "",
        ("config key callbacks.previous_secret_envs", "NO_SUCH_SECRET is not set"),
    ),
    (
        "invalid TOML",
        None,
        None,
        "[polling\ntick_seconds = 1\n",
        ("relay.toml: not valid TOML", "line"),
    ),
    (
        "url and url_env",
        lambda s: s.update(
            downstream=[{"name": "hook", "url": "https://example.invalid/h", "url_env": "HOOK_URL"}]
        ),
        lambda env: env.update(HOOK_URL="https://example.invalid/h"),
        "",
        ("config key downstream.0", "exactly one of url and url_env"),
    ),
    (
        "downstream timeout above the delivery lease",
        lambda s: s.update(
            downstream=[{"name": "hook", "url": "https://example.invalid/h", "timeout": 30}]
        ),
        None,
        "",
        ("config key downstream.0.timeout", "below advanced.delivery.attempt_lease_seconds"),
    ),
    (
        "an old name beside its new one",
        lambda s: s.setdefault("media", {}).update(
            allow_private_networks=True, allow_private_sources=False
        ),
        None,
        "",
        ("config keys media.allow_private_networks and media.allow_private_sources",),
    ),
    (
        "metrics on every address without a token",
        setting("server", metrics_listen="0.0.0.0:9464"),
        None,
        "",
        ("config key server", "metrics_listen = '0.0.0.0:9464' needs metrics_token_env"),
    ),
    (
        "PORT not a number",
        None,
        lambda env: env.update(PORT="http"),
        "",
        ("environment variable PORT", "'http' is not a port number"),
    ),
    (
        "PORT too big",
        None,
        lambda env: env.update(PORT="70000"),
        "",
        ("environment variable PORT", "'70000' is not a port number"),
    ),
]


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert all(part in lines[0] for part in expected), lines[0]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert not [s for s in SECRETS if s in output]


@pytest.mark.parametrize(
    ("change", "env_change", "raw", "expected"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, change: Any, env_change: Any, raw: str, expected: tuple[str, ...]
):
    settings, env = base_settings(tmp_path), clean_env()
    if change:
        change(settings)
    if env_change:
        env_change(env)
    path = tmp_path / "relay.toml"
    path.write_text(to_toml(settings) + raw)
    assert_one_line(serve(["--config", str(path)], env, tmp_path), *expected)


def test_bad_config_named_by_receiver_config(tmp_path: Path):
    settings = base_settings(tmp_path)
    settings["server"]["bogus"] = 1
    path = tmp_path / "relay.toml"
    path.write_text(to_toml(settings))
    # No --config: the file must come from the environment.
    result = serve([], clean_env(RECEIVER_CONFIG=str(path)), tmp_path)
    assert_one_line(result, "unknown key `server.bogus`")


def test_port_env_overrides_the_configured_port(tmp_path: Path):
    configured, port = free_port(), free_port()
    settings = base_settings(tmp_path, port)
    settings["server"]["port"] = configured
    # --config wins over $RECEIVER_CONFIG: point that at a file that would not load.
    (tmp_path / "bad.toml").write_text("[server]\nbogus = 1\n")
    relay = Relay(tmp_path, settings, relay_env(RECEIVER_CONFIG=str(tmp_path / "bad.toml")))
    assert relay.env["PORT"] == str(port)
    try:
        relay.start()
        assert relay.anon.get("/healthz").json() == {"ok": True}
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{configured}/healthz", timeout=2)
    finally:
        relay.stop()
        relay.close()
    assert not [s for s in SECRETS if s in relay.log()]


def test_receiver_config_env_is_used_without_config_option(tmp_path: Path):
    port = free_port()
    path = tmp_path / "from-env.toml"
    path.write_text(to_toml(base_settings(tmp_path, port)))
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "receiver", "serve"],
        cwd=tmp_path,
        env=clean_env(RECEIVER_CONFIG=str(path)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()

    def healthy() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy)
        assert (tmp_path / "relay.db").exists()  # the store the file names, not the default
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_old_key_names_still_start_the_relay_with_one_warning_each(tmp_path: Path):
    port = free_port()
    settings = base_settings(tmp_path, port)
    settings.pop("advanced")
    settings["polling"] = {"tick_seconds": 0.1, "lease_seconds": 5}
    settings["delivery"] = {"lease_seconds": 12, "max_retry_after_seconds": 60}
    relay = Relay(tmp_path, settings, relay_env()).start()
    try:
        assert httpx.get(f"{relay.url}/healthz").status_code == 200
    finally:
        relay.close()
    said = [
        line["detail"] for line in relay.log_lines() if line.get("event") == "config.deprecated"
    ]
    assert sorted(said) == [
        "config key delivery.lease_seconds is deprecated: use"
        " advanced.delivery.attempt_lease_seconds",
        "config key delivery.max_retry_after_seconds is deprecated: use"
        " advanced.delivery.max_downstream_retry_after_seconds",
        "config key polling.lease_seconds is deprecated: use advanced.polling.poll_lease_seconds",
        "config key polling.tick_seconds is deprecated: use advanced.polling.scan_seconds",
    ]
