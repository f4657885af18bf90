"""Relay processes forked from one that has already imported the relay.

Importing the relay costs about a second of CPU, and the suites start well over a thousand
relays: on two cores that import was the largest single cost of a CI run. So the harness
starts each relay (`receiver serve`, `receiver deliver`) as a child of the standard
library's fork server, a single-threaded process that imports the relay's modules once:
every relay is still a process of its own (its own pid, memory, event loop, signals and
exit code), it runs the same `receiver` command with its own environment and working
folder, and writes its log to its own file; only the imports are shared, copy-on-write.

What a fork cannot show, how `python -m receiver serve` starts from nothing (its one-line
start-up mistakes, its exit codes, an install without an extra), the start-up tests run
as plain subprocesses. `RELAY_TEST_SPAWN=exec` starts every relay that way too.
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from multiprocessing.context import ForkServerContext
from pathlib import Path

# What `receiver serve` imports on its way to ready (the database drivers included), so
# that a forked relay imports next to nothing. A module missing here costs time, not
# correctness: the child imports it itself. First the main script, when the tests (or the
# benchmarks) run from one: each child would run it again otherwise (multiprocessing
# re-runs a parent's main script in the child, `.venv/bin/pytest` importing pytest).
PRELOAD = [
    "__main__",
    "receiver.cli.main",
    "receiver.cli.runners",
    "receiver.cli.offline",
    "receiver.app.build",
    "receiver.app.server",
    "receiver.app.deliver",
    "receiver.api.routers",  # the API (FastAPI, the front door): at its first request
    "receiver.agents.server",  # a relay imports it at its first /mcp request
    "receiver.console",  # and these two at their first page (receiver/app/asgi.py)
    "receiver.portal",
    "receiver.kernel.store.sqlite.store",
    "receiver.kernel.store.postgres.store",
    "receiver.kernel.store.migrations",  # the package its files are read from
    "receiver.kernel.http.connections",
    "httptools",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    # Imported by a relay at its first callback or delivery, not at its start (`serve` stays
    # lean): aiohttp alone is some 0.3 s of CPU, and every relay under test reaches it.
    "aiohttp",
    "receiver.kernel.net.outbound",
    "receiver.destinations.http",
    "receiver.deliveries.fanout.connections",
    "receiver.media.mirror",
    "tests.forked",
]

_context: ForkServerContext | None = None


def forking() -> bool:
    """Whether relays are forked (the default on Linux) or started with exec."""
    return sys.platform == "linux" and os.environ.get("RELAY_TEST_SPAWN", "fork") != "exec"


def _fork_server() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run(
    argv: list[str], env: dict[str, str], cwd: str, log_path: str, err_path: str | None = None
) -> None:
    """The child: the environment, folder and output a spawned `receiver` would have (its
    errors beside its output, or in `err_path`), then the command itself, ending as the
    interpreter ends (exit handlers, then the code)."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, log_path), (2, err_path or log_path)):
        log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, fd)
        os.close(log)
    # Unbuffered, as PYTHONUNBUFFERED makes them in a spawned relay: the tests read the log
    # while the relay runs.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    sys.argv = ["receiver", *argv]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from receiver.cli.main import main

    try:
        main(args=argv, prog_name="receiver")
    finally:
        atexit._run_exitfuncs()


class Forked:
    """A forked relay, answering as much of `subprocess.Popen` as the tests use."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self._process = _fork_server().Process(
            target=_run, args=(argv, env, str(cwd), str(log_path)), daemon=True
        )
        self._process.start()
        self.pid: int = self._process.pid or 0
        self.args = argv

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        self._process.join(0)
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


Process = subprocess.Popen[bytes] | Forked


def run(
    argv: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`receiver <argv>` run to its end as `subprocess.run(..., capture_output=True,
    text=True)` would, forked when relays are: an operator's command is also a process
    of its own, and its import (a second of CPU) was most of what a test of the CLI cost."""
    if not forking():
        return subprocess.run(
            [sys.executable, "-m", "receiver", *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    with tempfile.TemporaryDirectory(prefix="receiver-run-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        where = str(cwd or Path.cwd())
        process = _fork_server().Process(
            target=_run, args=(argv, env, where, str(out), str(err)), daemon=True
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(argv, timeout)
        read = [p.read_text(errors="replace") if p.exists() else "" for p in (out, err)]
        return subprocess.CompletedProcess(argv, process.exitcode, *read)


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> Process:
    """`receiver <argv>` as a process of its own, forked or exec'd (`forking()`), with its
    output appended to `log_path`."""
    if forking():
        log_path.touch()  # there at once, as the spawned relay's is
        return Forked(argv, env, cwd, log_path)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "receiver", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
