"""`receiver dev` as a newcomer runs it: one process with the relay, the simulator and a
sink on loopback, whose printed `export` lines are all a shell needs for the `receiver
submit` it suggests: the task succeeds and is delivered at the sink, which prints a line;
its portal link opens; Ctrl-C (SIGINT) and SIGTERM stop it cleanly, and a restart on the
same folder keeps the task and the token. Start-up mistakes (a port in use, a folder that
cannot be one, the folder already in use) are one line, not a traceback."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import wait_for

README = Path(__file__).parents[2] / "README.md"
EXPORT = re.compile(r"^export (RECEIVER_URL|RECEIVER_ADMIN_TOKEN|RECEIVER__STORAGE__URL)=(\S+)$")


class Dev:
    """`receiver dev --dir FOLDER` running, its output read line by line as it comes."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receiver", "dev", "--dir", str(folder), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,))
        self._reader.start()

    def _read(self, out: object) -> None:
        for line in out:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def started(self) -> tuple[dict[str, str], str]:
        """The exported variables and the portal link, once printed."""
        wait_for(lambda: any(line.startswith("  try ") for line in self.lines) or self.ended())
        assert not self.ended(), self.stop()
        exported = dict(m.groups() for line in self.lines if (m := EXPORT.match(line)))
        [portal] = [line.split()[1] for line in self.lines if line.startswith("  portal ")]
        return exported, portal

    def ended(self) -> bool:
        return self.process.poll() is not None

    def stop(self, signum: int = signal.SIGINT) -> str:
        """Signal it; its exit status must be 0. Returns what it printed (both streams)."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=60)
        self._reader.join(10)
        assert self.process.stderr is not None
        said = "\n".join(self.lines) + self.process.stderr.read()
        assert code == 0, said
        return said


@pytest.fixture
def started() -> Iterator[list[Dev]]:
    """Every `receiver dev` a test starts, killed at its end if a failure left it running."""
    runs: list[Dev] = []
    yield runs
    for run in runs:
        if not run.ended():
            run.process.kill()
            run.process.wait(30)


def _refused(folder: Path, *args: str) -> str:
    """A `receiver dev` that must not start: exit 2 with one line on stderr."""
    run = subprocess.run(
        [sys.executable, "-m", "receiver", "dev", "--dir", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == "", run
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    return run.stderr


def test_a_task_through_receiver_dev_succeeds_and_a_restart_keeps_it(
    tmp_path: Path, started: list[Dev]
) -> None:
    folder = tmp_path / "dev"
    dev = Dev(folder)
    started.append(dev)
    exported, portal = dev.started()
    url, token = exported["RECEIVER_URL"], exported["RECEIVER_ADMIN_TOKEN"]
    assert url.startswith("http://127.0.0.1:")
    said = "\n".join(dev.lines)
    assert str(folder) in said and "/console" in said
    state = folder / "dev.json"
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert token in state.read_text()
    [sink] = re.findall(r"(http://127\.0\.0\.1:\d+)/_sink/received", said)

    # The command it suggests, pasted into a shell holding the exported variables.
    [tried] = [line.split(maxsplit=1)[1] for line in dev.lines if line.startswith("  try ")]
    assert tried.startswith("receiver submit ")
    assert f".venv/bin/{tried}\n" in README.read_text()  # the README's step after the demo
    run = subprocess.run(
        [sys.executable, "-m", "receiver", *shlex.split(tried)[1:]],
        env={**os.environ, **exported},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "succeeded" in run.stderr, run
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    [task] = api.get("/v1/tasks").json()["tasks"]
    task_id = task["id"]

    def delivered() -> dict[str, object] | None:
        task = api.get(f"/v1/tasks/{task_id}").json()
        done = task["state"] == "succeeded" and task["deliveries"]
        ok = done and all(d["state"] == "succeeded" for d in task["deliveries"])
        return dict(task) if ok else None

    wait_for(delivered)
    # The store commands, with only the exported variables: they find dev's store.
    for command in (["tasks", "list"], ["downstreams", "list"]):
        listed = subprocess.run(
            [sys.executable, "-m", "receiver", *command],
            env={**os.environ, **exported},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.returncode == 0, listed
        assert (task_id if command[0] == "tasks" else "demo/") in listed.stdout, listed
    received = httpx.get(f"{sink}/_sink/received").json()
    assert [(r["path"], r["status"]) for r in received] == [("/hooks/relay", 200)]
    assert received[0]["json"]["data"]["task_id"] == task_id
    wait_for(
        lambda: any(
            f"POST /hooks/relay  task.succeeded {task_id}  -> 200" in line for line in dev.lines
        )
    )
    # The demo app's portal, as a browser opens it: once, then its session's page.
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        page = browser.get(portal)
        assert page.status_code == 200 and 'id="app-name">demo<' in page.text

    # While it runs: the same folder again, and the relay's port taken, are one line each.
    assert "another `receiver dev` runs on" in _refused(folder)
    port = url.rsplit(":", 1)[1]
    other = tmp_path / "other"
    assert f"127.0.0.1:{port} (relay) is in use" in _refused(other, "--port", port)
    file = tmp_path / "a-file"
    file.write_text("")
    assert "cannot use the folder" in _refused(file / "dev")
    assert "stopped; the store stays in" in dev.stop(signal.SIGINT)

    # Again on the same folder, the sink on another port: the demo app's downstream follows.
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        sink_port = free.getsockname()[1]
    again = Dev(folder, "--sink-port", str(sink_port))
    started.append(again)
    exported, _ = again.started()
    assert exported["RECEIVER_ADMIN_TOKEN"] == token
    assert exported["RECEIVER_URL"] == url  # the last run's port, free again
    assert any("kept from the last run" in line for line in again.lines)
    api = httpx.Client(base_url=exported["RECEIVER_URL"], headers=api.headers, timeout=30)
    assert api.get(f"/v1/tasks/{task_id}").json()["state"] == "succeeded"
    assert [a["name"] for a in api.get("/v1/apps").json()["apps"]] == ["demo"]  # made once
    app_key = json.loads(state.read_text())["demo_app_key"]
    as_app = httpx.Client(
        base_url=api.base_url, headers={"Authorization": f"Bearer {app_key}"}, timeout=30
    )
    made = as_app.post(
        "/v1/tasks",
        json={"kind": "video2video", "video": "https://example.com/in.mp4", "prompt": "dawn"},
    )
    assert made.status_code == 202, made.text
    theirs = made.json()["id"]
    line = f"POST /hooks/demo  task.succeeded {theirs}  -> 200"
    wait_for(lambda: any(line in said for said in again.lines))
    assert f"127.0.0.1:{sink_port}" in "\n".join(again.lines)
    again.stop(signal.SIGTERM)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_store_is_readable_by_its_owner_only(tmp_path: Path, started: list[Dev]) -> None:
    # A folder an older run left open to others, with its store in it.
    folder = tmp_path / "dev"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "relay.db").touch()
    (folder / "relay.db").chmod(0o644)
    dev = Dev(folder)
    started.append(dev)
    dev.started()
    files = ("relay.db", "relay.db-wal", "relay.db-shm", "dev.json", "lock")
    assert {name: _mode(folder / name) for name in files} == dict.fromkeys(files, 0o600)
    assert _mode(folder) == 0o700
    dev.stop()

    # Made afresh: private from the start.
    fresh = tmp_path / "fresh"
    dev = Dev(fresh)
    started.append(dev)
    dev.started()
    assert _mode(fresh) == 0o700
    assert {name: _mode(fresh / name) for name in files} == dict.fromkeys(files, 0o600)
    dev.stop()
