"""A relay with no config file: every setting from `RECEIVER__<SECTION>__<KEY>` variables,
as a container gets them, on either store; `receiver config show` says what it runs with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import relay_env
from tests.harness import SECRETS, relay_settings, wait_for
from tests.testkit import free_port


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def as_variables(shaped: dict[str, Any]) -> dict[str, str]:
    """A settings dict in the file's shape as the variables that say the same."""
    tables = [((s,), t) for s, t in shaped.items() if s != "advanced" and isinstance(t, dict)]
    tables += [(("advanced", s), t) for s, t in shaped.get("advanced", {}).items()]
    found = {
        "RECEIVER__" + "__".join(p.upper() for p in (*path, key)): _text(value)
        for path, table in tables
        for key, value in table.items()
    }
    lists = {s: t for s, t in shaped.items() if isinstance(t, list)}
    found.update({f"RECEIVER__{s.upper()}": _text(t) for s, t in lists.items()})
    return found


def test_serve_with_no_file_takes_every_setting_from_the_environment(
    tmp_path: Path, storage_url: str
) -> None:
    port = free_port()
    settings = relay_settings(storage_url, f"http://127.0.0.1:{port}", "http://127.0.0.1:9")
    variables = as_variables(settings)
    assert "RECEIVER__ADVANCED__POLLING__SCAN_SECONDS" in variables
    base = {k: v for k, v in os.environ.items() if k not in ("PORT", "RECEIVER_CONFIG")}
    env = {**base, **relay_env(), **variables, "RECEIVER__SERVER__PORT": str(port)}
    shown = subprocess.run(
        [sys.executable, "-m", "receiver", "config", "show"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    tick = settings["advanced"]["polling"]["scan_seconds"]  # the harness's, not the default
    assert f"port = {port}" in shown and f"scan_seconds = {tick}" in shown
    assert not [s for s in SECRETS if s in shown]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    log = log_path.read_text()
    assert "Traceback" not in log and "config.deprecated" not in log
    assert not [s for s in SECRETS if s in log]
