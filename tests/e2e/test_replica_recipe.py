"""The recipes for several replicas on one host run as written: docs/operations.md's
`PORT=… receiver serve &` lines and the Procfile's `web` line scaled, each replica on a
port and a /metrics port of its own, on one PostgreSQL schema."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, MakeRelay
from tests.harness import WAIT_SECONDS, PgSchema, wait_for
from tests.testkit import free_port

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="RELAY_TEST_BACKENDS excludes postgres"),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def storage_url() -> Iterator[str]:
    schema = PgSchema()
    yield schema.url
    schema.drop()


def _docs_lines() -> list[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    return re.findall(r"^PORT=\d+ .*receiver serve &$", text, re.MULTILINE)


def _bindable(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def _procfile_command() -> str:
    line = (ROOT / "Procfile").read_text().strip()
    assert line.startswith("web: ")
    return line.removeprefix("web: ")


def _run_together(commands: list[str], env: dict[str, str], workdir: Path) -> list[int]:
    """Each command in a shell of its own, `receiver` this interpreter's; the public ports
    that answered /readyz, once every replica did (a replica that exits fails at once)."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "receiver"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m receiver "$@"\n')
    shim.chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{env.get('PATH', '')}"}
    ports = [int(m[1]) for c in commands if (m := re.search(r"PORT=(\d+)", c))]
    procs = []
    try:
        for i, command in enumerate(commands):
            log = (workdir / f"replica-{i}.log").open("ab")
            procs.append(
                subprocess.Popen(
                    ["sh", "-c", command.removesuffix("&").strip()],
                    env=env,
                    cwd=workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

        def ready() -> bool:
            for i, proc in enumerate(procs):
                log = (workdir / f"replica-{i}.log").read_text(errors="replace")
                assert proc.poll() is None, f"replica {i} exited:\n{log}"
            try:
                answers = [httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=1) for p in ports]
            except httpx.HTTPError:
                return False
            return all(a.status_code == 200 for a in answers)

        wait_for(ready, timeout=2 * WAIT_SECONDS)
        return ports
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def test_the_docs_recipe_starts_three_replicas_on_one_host(
    make_relay: MakeRelay, tmp_path: Path
) -> None:
    relay = make_relay(start=False)  # its config file: this test's schema, the simulator
    lines = _docs_lines()
    assert len(lines) == 3, lines
    # The recipe's ports, each swapped for a free one of this test's.
    fixed = sorted({int(p) for line in lines for p in re.findall(r"\b(8\d{3}|9\d{3})\b", line)})
    free = {port: free_port() for port in fixed}
    commands = [
        re.sub(r"\b(8\d{3}|9\d{3})\b", lambda m: str(free[int(m[1])]), line) for line in lines
    ]
    env = {**relay.env, "RECEIVER_CONFIG": str(relay.config_path)}
    env.pop("PORT")
    assert len(_run_together(commands, env, tmp_path)) == 3


def test_the_procfile_scales_on_one_host(make_relay: MakeRelay, tmp_path: Path) -> None:
    relay = make_relay(start=False)
    # As a Procfile runner starts `web` scaled to two: the same line, a PORT each; /metrics
    # is left to the line (the config file's `metrics_listen` is the test's, not the
    # default's, so the variable that the line sets is what the replicas use).
    web = _procfile_command()
    base = free_port()
    while not all(_bindable(p) for p in (base + 1, base + 1000, base + 1001)):
        base = free_port()
    commands = [f"PORT={base + i} {web}" for i in range(2)]
    env = {**relay.env, "RECEIVER_CONFIG": str(relay.config_path)}
    env.pop("PORT")
    env.pop("RECEIVER__SERVER__METRICS_LISTEN", None)
    # Both ready: each bound a /metrics port of its own (a taken one stops a start).
    assert len(_run_together(commands, env, tmp_path)) == 2
