"""The relay's start: `receiver serve` from nothing to its first 200 at /healthz, against a
bare Starlette app on uvicorn (uvloop and httptools, the same interpreter) started beside it,
in rounds (bare, relay; relay, bare; ...). Each start is timed from the exec to the first
200, and its CPU (user + system, every thread) read from getrusage of the children once it
is killed right after that answer. Each relay starts on a fresh SQLite file, as every test's
does: its migrations are part of the figure. Both load byte code, as an installed relay does
(the image compiles its own; pip compiles at install): a shell's PYTHONDONTWRITEBYTECODE
would have the relay compile its 400 modules at every start, and not the libraries the bare
app imports, whose byte code pip wrote. The byte code goes to a cache in the work directory,
written by one start of each before the rounds.

What a start to /healthz leaves for later, disclosed: FastAPI and the API's routes are
built at the API's first request (receiver/app/asgi.py). On each relay start, once /healthz
has answered, a `GET /v1/tasks` with the admin token is timed to its answer, wall and the
process's CPU (every thread; /proc/<pid>/stat before and after).

Then the start the tests pay: a relay forked from the test harness's fork server
(tests/forked.py), which has imported the relay already; its CPU from fork to /healthz, read
from /proc/<pid>/stat at that answer (the building of the app, its routes and models, the
config, the migrations of a fresh SQLite file).
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import ADMIN_TOKEN, BENCH, SINK_SECRET_ENV, cpu_seconds, relay_env, relay_settings
from harness import Bench, Row, log, verdict

from tests.forked import spawn
from tests.testkit import free_port, to_toml

TARGET = 3.0  # times the bare app's start (issue 66)

# config.example.toml's downstreams (a signed webhook, a Slack channel): the relay loads
# what reads their settings, and no destination's client before its first delivery.
EXAMPLE_DOWNSTREAMS = [
    {
        "name": "orders-service",
        "url": "https://hooks.example.com/runway",
        "secret_env": SINK_SECRET_ENV,
        "ordering": "task",
    },
    {"name": "team-slack", "url": "https://hooks.slack.com/services/T0/B0/x", "format": "slack"},
]

# The reference: what any app on this server stack pays to answer at all.
BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def healthz(request):
    return PlainTextResponse("ok")

app = Starlette(routes=[Route("/healthz", healthz)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            log_config=None, access_log=False, lifespan="on")
"""


def run(bench: Bench) -> None:
    rounds = 3 if bench.plan.quick else 7
    took: dict[str, list[tuple[float, float]]] = {"bare": [], "relay": [], "forked": []}
    took["first_api"] = []  # on the same starts as "relay"'s
    starters: dict[str, Callable[[int], tuple[float, float]]] = {
        "bare": lambda k: _bare(bench.work),
        "relay": lambda k: _relay(bench.work, f"start-{k}", took["first_api"] if k >= 0 else []),
    }
    for starter in starters.values():
        starter(-1)  # uncounted: writes both's byte code
    for k in range(rounds):
        order = ("bare", "relay") if k % 2 == 0 else ("relay", "bare")
        for name in order:
            took[name].append(starters[name](k))
    took["forked"] = _forked_apart(bench.work, rounds)
    found: dict[str, Any] = {name: _spread(pairs) for name, pairs in took.items()}
    found["wall_ratio"] = round(
        found["relay"]["wall"]["median"] / found["bare"]["wall"]["median"], 2
    )
    found["cpu_ratio"] = round(found["relay"]["cpu"]["median"] / found["bare"]["cpu"]["median"], 2)
    bench.results["start"] = {"rounds": rounds, **found}
    log(
        f"start: relay {found['relay']['wall']['median']} s wall ({found['wall_ratio']}x),"
        f" {found['relay']['cpu']['median']} s CPU ({found['cpu_ratio']}x);"
        f" forked {found['forked']['cpu']['median']} s CPU;"
        f" first API answer {found['first_api']['cpu']['median']} s CPU"
    )


def _spread(pairs: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for key, values in (("wall", [w for w, _ in pairs]), ("cpu", [c for _, c in pairs])):
        out[key] = {
            "min": round(min(values), 3),
            "median": round(statistics.median(values), 3),
            "max": round(max(values), 3),
        }
    return out


def _bare(work: Path) -> tuple[float, float]:
    port = free_port()
    return _timed([sys.executable, "-c", BARE_APP, str(port)], port, _compiled(work), work)


def _relay(work: Path, name: str, first_api: list[tuple[float, float]]) -> tuple[float, float]:
    port = free_port()
    config = _fresh_config(work, name, port)
    argv = [sys.executable, "-m", "receiver", "serve", "--config", str(config)]
    env = {**_compiled(work), **relay_env(port)}
    return _timed(argv, port, env, work, lambda pid: first_api.append(_first_api(port, pid)))


def _compiled(work: Path) -> dict[str, str]:
    """The environment, with byte code read and written in one cache in `work`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(work / "pycache")}


def _fresh_config(work: Path, name: str, port: int) -> Path:
    db = work / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    config = work / f"{name}.toml"
    settings = relay_settings(db, port)
    settings["downstream"] = EXAMPLE_DOWNSTREAMS
    config.write_text(to_toml(settings))
    return config


def _timed(
    argv: list[str],
    port: int,
    env: dict[str, str],
    cwd: Path,
    then: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """Wall seconds from the exec to the first 200 at /healthz, and the CPU seconds the
    process spent, killed after that answer: at once, or after `then` (given its pid), whose
    CPU is then taken out of the figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    later = 0.0
    try:
        wall = _until_healthy(port, started, proc.poll)
        if then is not None:
            at_healthz = cpu_seconds(proc.pid)
            then(proc.pid)
            later = cpu_seconds(proc.pid) - at_healthz
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime - later


def _first_api(port: int, pid: int) -> tuple[float, float]:
    """Wall and CPU seconds from a relay's first /healthz to its first API answer, which
    builds the API (FastAPI, the routes, their models)."""
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/v1/tasks", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET /v1/tasks answered {response.status} on port {port}")
    return time.perf_counter() - started, cpu_seconds(pid) - cpu


# The forks are made from an interpreter started with -c, as a test worker is (xdist): its
# fork server then imports the relay and nothing of the benchmarks (a fork server whose
# parent runs a script imports that script too, and its forks cost a third more).
FORKS = """
import json, sys
from pathlib import Path
from stages.start import forked_rounds
print(json.dumps(forked_rounds(Path(sys.argv[1]), int(sys.argv[2]))))
"""


def _forked_apart(work: Path, rounds: int) -> list[tuple[float, float]]:
    path = os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", FORKS, str(work), str(rounds)],
        env={**os.environ, "PYTHONPATH": path},
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(wall, cpu) for wall, cpu in json.loads(out.splitlines()[-1])]


def forked_rounds(work: Path, rounds: int) -> list[tuple[float, float]]:
    """`rounds` forked starts, after one that waits for the fork server's own imports."""
    return [_forked(work, f"start-forked-{k}") for k in range(rounds + 1)][1:]


def _forked(work: Path, name: str) -> tuple[float, float]:
    """A relay forked as tests/harness.py starts one: wall seconds from the fork to the
    first 200 at /healthz, and the child's CPU seconds at that answer."""
    port = free_port()
    config = _fresh_config(work, name, port)
    env = {**os.environ, **relay_env(port), "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    proc = spawn(["serve", "--config", str(config)], env, work, work / f"{name}.log")
    try:
        wall = _until_healthy(port, started, proc.poll)
        cpu = cpu_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
    return wall, cpu


def _until_healthy(port: int, started: float, exited: Callable[[], int | None]) -> float:
    deadline = started + 120
    while time.perf_counter() < deadline:
        if exited() is not None:
            raise RuntimeError(f"the process on port {port} exited before /healthz answered")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
        finally:
            connection.close()
    raise RuntimeError(f"nothing answered /healthz on port {port} within 120 s")


def _spread_text(figure: dict[str, float], unit: str = "s") -> str:
    """`median (min-max)`, in seconds or milliseconds."""
    scale, digits = (1000, 0) if unit == "ms" else (1, 2)
    low, mid, high = (figure[k] * scale for k in ("min", "median", "max"))
    return f"{mid:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def rows(r: dict[str, Any]) -> list[Row]:
    if "start" not in r:
        return []
    s = r["start"]
    relay, bare, forked = s["relay"], s["bare"], s["forked"]
    api = s.get("first_api")

    return [
        (
            "`receiver serve` to its first /healthz, wall",
            f"{_spread_text(relay['wall'])} = {s['wall_ratio']:.1f}x a bare Starlette app's"
            f" {_spread_text(bare['wall'])}",
            f"<= {TARGET:g}x",
            verdict(s["wall_ratio"] <= TARGET),
        ),
        (
            "… its CPU",
            f"{_spread_text(relay['cpu'])} = {s['cpu_ratio']:.1f}x the bare app's"
            f" {_spread_text(bare['cpu'])}",
            f"<= {TARGET:g}x",
            verdict(s["cpu_ratio"] <= TARGET),
        ),
        (
            "A forked relay (the tests'), fork to /healthz, CPU",
            f"{_spread_text(forked['cpu'], 'ms')}; wall {_spread_text(forked['wall'], 'ms')}",
            "-",
            "",
        ),
        *(
            [
                (
                    "… then its first API answer (`GET /v1/tasks`: FastAPI and the routes built)",
                    f"CPU {_spread_text(api['cpu'], 'ms')}; wall {_spread_text(api['wall'], 'ms')}",
                    "-",
                    "",
                )
            ]
            if api
            else []
        ),
    ]
