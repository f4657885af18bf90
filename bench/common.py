"""Shared pieces of the benchmarks: secrets, bodies, configs, child processes, /proc readings.

Config files and ports come from the test harness, so tests and benchmarks start relays alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.testkit import to_toml

API_KEY = "sk-bench-" + "0f1e2d3c4b5a69788796"
ADMIN_TOKEN = "admin-bench-" + "a5b4c3d2e1f00f1e2d3c"
SIGNING_SECRET = "sign-bench-" + "00112233445566778899aabbccddeeff"
SINK_SECRET_ENV = "BENCH_SINK_SECRET"
SINK_SECRET = "whsec_YmVuY2gtZG93bnN0cmVhbS1zZWNyZXQtMDAwMDAwMDE="
BENCH = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A reverse-format callback as CometAPI sends it; `%s` slots work in Python and in Lua.
# Its links point at a closed loopback port: nothing in a benchmark resolves a name.
# Slots: upstream id, state, STATUS, upstream id, upstream id, a tag that makes it unique.
TEMPLATE = (
    '{"code":200,"msg":"success","data":{"task_id":"%s","state":"%s","status":"%s",'
    '"prompt":"pixel-art redraw of a harbour at dusk","prompt_en":"pixel-art redraw of a harbour",'
    '"video_url":"http://127.0.0.1:9/runway/%s.mp4","last_frame":"","msg":"",'
    '"create_time":"2025-01-01T00:00:00.000Z","update_time":1735689630,'
    '"poster":"http://127.0.0.1:9/runway/%s-poster.jpg"},"exec_time":0.042,"trace":"%s"}'
)
STATUS = {"running": "RUNNING", "succeeded": "SUCCESS"}
# The flat body CometAPI documents for callbacks (a number as a string for `status`).
# Slots: upstream id, status number, a tag that makes it unique, upstream id, upstream id.
FLAT_TEMPLATE = (
    '{"task_id":"%s","status":"%s","prompt":"pixel-art redraw of a harbour at dusk",'
    '"prompt_en":"%s","video_url":"http://127.0.0.1:9/runway/%s.mp4",'
    '"poster":"http://127.0.0.1:9/runway/%s-poster.png","last_frame":"","msg":null,'
    '"point":"320","refund":"0","create_time":"1735689600","update_time":"1735689630"}'
)
FLAT_STATUS = {"running": "2", "succeeded": "3"}


def callback_body(upstream_id: str, state: str, tag: str, flat: bool = False) -> str:
    if flat:
        return FLAT_TEMPLATE % (upstream_id, FLAT_STATUS[state], tag, upstream_id, upstream_id)
    return TEMPLATE % (upstream_id, state, STATUS[state], upstream_id, upstream_id, tag)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, the children it reaped and those it runs (the
    relay's expression workers and their evaluators), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = sum(int(f) for f in fields[11:15]) / CLK_TCK
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                used += tree_cpu_seconds(int(child))
    return used


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Child:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                cwd=workdir,
            )
        self.pid = self.proc.pid

    def wait_http(self, url: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not come up:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def python_child(
    name: str, args: list[str], workdir: Path, env: dict[str, str], python: str = sys.executable
) -> Child:
    return Child(name, [python, *args], workdir, {**env, **own_path(python)})


def own_path(python: str) -> dict[str, str]:
    """Another checkout's interpreter (its `.venv/bin/python`) imports its own relay and
    test kit, whatever PYTHONPATH this run was given: its checkout first on the path."""
    return {} if python == sys.executable else {"PYTHONPATH": str(Path(python).parents[2])}


METRICS_TOKEN_ENV = "RELAY_METRICS_TOKEN"


def relay_env(port: int) -> dict[str, str]:
    return {
        "COMETAPI_KEY": API_KEY,
        "RECEIVER_ADMIN_TOKEN": ADMIN_TOKEN,
        "RECEIVER_SECRET": SIGNING_SECRET,
        SINK_SECRET_ENV: SINK_SECRET,
        METRICS_TOKEN_ENV: ADMIN_TOKEN,
        "PORT": str(port),
    }


def relay_settings(
    db: Path,
    port: int,
    sim_url: str = "http://127.0.0.1:9",
    downstream_urls: list[str] | None = None,
    level: str = "warning",
    polling: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    callbacks: dict[str, Any] | None = None,
    upstream: dict[str, Any] | None = None,
    retention: dict[str, Any] | None = None,
    storage_url: str | None = None,
    server: dict[str, Any] | None = None,
    downstream: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Defaults except where a benchmark needs otherwise; all on loopback. `storage_url`
    stands in for the SQLite file `db` (PostgreSQL); `downstream`, more keys of each
    downstream (a filter, a transform)."""
    return {
        "server": {
            "host": "127.0.0.1",
            "public_url": f"http://127.0.0.1:{port}",
            # /metrics on the public port, behind a token (the one `metric` sends): no second
            # port to find free beside each relay.
            "metrics_listen": "",
            "metrics_public": True,
            "metrics_token_env": METRICS_TOKEN_ENV,
            **(server or {}),
        },
        "upstream": {"base_url": sim_url, "timeout_seconds": 5, **(upstream or {})},
        "polling": polling or {},
        "delivery": delivery or {},
        "callbacks": callbacks or {},
        "storage": {"url": storage_url or f"sqlite:///{db}"},
        "retention": retention or {},
        "logging": {"level": level},
        "downstream": [
            {"name": f"d{k}", "url": url, "secret_env": SINK_SECRET_ENV, **(downstream or {})}
            for k, url in enumerate(downstream_urls or [])
        ],
    }


def start_relay(
    workdir: Path, name: str, settings: dict[str, Any], python: str = sys.executable
) -> Child:
    """`receiver serve` as a real process, ready when /readyz answers 200. `python` is the
    interpreter whose installed relay runs (another checkout's, for a paired baseline)."""
    port = int(settings["server"]["public_url"].rsplit(":", 1)[1])
    config = workdir / f"{name}.toml"
    config.write_text(to_toml(settings))
    child = python_child(
        name, ["-m", "receiver", "serve", "--config", str(config)], workdir, relay_env(port), python
    )
    # On a machine loaded by other work a relay's start-up has taken over 30 s.
    child.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
    return child


def metric(port: int, name: str) -> dict[str, float]:
    """One counter of the relay's /metrics, by its label string."""
    text = httpx.get(
        f"http://127.0.0.1:{port}/metrics",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    ).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, val = line.rpartition(" ")
            out[key[len(name) :]] = float(val)
    return out
