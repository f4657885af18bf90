"""Many apps: what one app pays as the relay serves 10, 1,000 and 10,000 apps of 10 webhook
endpoints each (issue 91), on SQLite and on PostgreSQL, each figure against its own at 10
apps in the same run.

For each size, a fresh store is filled by bench/fillapps.py (the relay's own row functions,
batched: apps, a key each, 10 endpoints each, sealed as the API seals them), then
`receiver serve` is started on it as a process and measured:
1. its start, exec to the first 200 at /healthz; its RSS and its CPU while idle after that;
2. one app's calls with its own key, each the median of a few: its `GET /v1/downstreams`,
   its portal page, a submit (`POST /v1/tasks`), its event to its 10 endpoints (a task's
   terminal callback sent to the 10th delivery at the sink) and a `POST /v1/downstreams`,
   with the longest answer of a probe of `/livez` (every 4 ms) while each create runs: the
   event loop's longest stall;
3. 200 tasks of 200 apps (of every app when there are fewer, in turn) ending at once, their
   callbacks sent together: deliveries a second, the first callback to the last delivery;
4. the admin's `GET /v1/downstreams?limit=100` and the app's, once each (a relay without
   paging ignores `limit` and answers the whole list).
The simulator's tasks run until the benchmark ends them (bench/servers.py `forever`), which
then sends their callbacks as CometAPI would, at once; the relay corroborates each with a
poll, as it does by default.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from appcalls import Probe, Relay, median_ms, timed
from common import BENCH, Child, cpu_seconds, python_child, relay_env, relay_settings, rss_mb
from harness import Bench, Row, log, verdict

from tests.testkit import PG_URL, free_port, to_toml

SIZES = (10, 1_000, 10_000)
QUICK_SIZES = (10, 1_000)
BACKENDS = ("sqlite", "postgres")
ENDPOINTS = 10
ENDING = 200  # tasks ending at once
ROUNDS = 5  # of each of one app's calls
CREATES = 3
IDLE_SECONDS = 10.0

# (key, what it is, unit, the target: "x" a ratio to 10 apps at most, "+" a rise at
# most, "<" an absolute bound, ">x" a ratio at least)
FIGURES: tuple[tuple[str, str, str, tuple[str, float] | None], ...] = (
    ("start_s", "`serve` to /healthz, wall", "s", ("x", 1.5)),
    ("start_cpu_s", "… its CPU", "s", ("x", 1.5)),
    ("rss_mb", "RSS after start", "MB", ("+", 50)),
    ("idle_cpu_pct", "idle CPU, % of a core", "%", ("+", 0.5)),
    ("event_ms", "one app's event to its 10 endpoints", "ms", ("x", 1.5)),
    ("event_cpu_ms", "… the relay's CPU", "ms", ("x", 1.5)),
    ("submit_ms", "one submit (`POST /v1/tasks`)", "ms", ("x", 1.5)),
    ("submit_cpu_ms", "… its CPU", "ms", ("x", 1.5)),
    ("list_ms", "one app's `GET /v1/downstreams`", "ms", ("x", 1.5)),
    ("list_cpu_ms", "… its CPU", "ms", ("x", 1.5)),
    ("portal_ms", "its portal page", "ms", ("x", 1.5)),
    ("portal_cpu_ms", "… its CPU", "ms", ("x", 1.5)),
    ("create_ms", "one `POST /v1/downstreams`", "ms", ("x", 1.5)),
    ("create_cpu_ms", "… its CPU", "ms", ("x", 1.5)),
    ("create_stall_ms", "longest /livez answer during a create", "ms", ("<", 20)),
    ("probe_idle_ms", "… while idle (0.5 s before)", "ms", None),
    ("burst_per_s", "200 tasks of 200 apps ending at once, deliveries/s", "/s", (">x", 0.75)),
    ("burst_cpu_ms_per_task", "… the relay's CPU a task (10 deliveries)", "ms", None),
    ("submits_200_s", "… their 200 submits, one after another", "s", None),
    ("admin_page_ms", "the admin's `GET /v1/downstreams?limit=100`", "ms", ("<", 100)),
    ("admin_page_cpu_ms", "… its CPU", "ms", None),
    ("admin_page_kb", "… its answer", "KB", None),
    ("app_page_ms", "one app's `GET /v1/downstreams?limit=100`", "ms", ("<", 100)),
)


def run(bench: Bench) -> None:
    sizes: tuple[int, ...] = QUICK_SIZES if bench.plan.quick else SIZES
    # One backend alone, or other sizes (the first is the reference): a full run takes long
    # on a busy machine. BENCH_APPS_BACKENDS=sqlite BENCH_APPS_SIZES=10,10000
    backends = os.environ.get("BENCH_APPS_BACKENDS", ",".join(BACKENDS)).split(",")
    if os.environ.get("BENCH_APPS_SIZES"):
        sizes = tuple(int(n) for n in os.environ["BENCH_APPS_SIZES"].split(","))
    sink_port, sim_port = free_port(), free_port()
    sink_url, sim_url = f"http://127.0.0.1:{sink_port}", f"http://127.0.0.1:{sim_port}"
    children = [
        bench.child("apps-sink", [str(BENCH / "servers.py"), "sink", str(sink_port)], sink_url),
        bench.child(
            "apps-sim",
            [str(BENCH / "servers.py"), "forever", str(sim_port)],
            f"{sim_url}/_sim/stats",
        ),
    ]
    found: dict[str, Any] = {"sizes": list(sizes)}
    try:
        for backend in backends:
            by_size: dict[str, Any] = {}
            for i, n in enumerate(sizes):
                if i >= 2:  # the 10 apps again, just before: a shared machine's speed drifts
                    by_size[str(n)] = {"against": size(bench, backend, sizes[0], sim_url, sink_url)}
                elif i == 1:
                    by_size[str(n)] = {"against": by_size[str(sizes[0])]}
                got = size(bench, backend, n, sim_url, sink_url)
                by_size[str(n)] = {**got, **by_size.get(str(n), {})}
            found[backend] = by_size
    finally:
        for child in children:
            child.stop()
            bench.children.remove(child)
    bench.results["apps"] = found


def size(bench: Bench, backend: str, n: int, sim_url: str, sink_url: str) -> dict[str, Any]:
    log(f"apps: {backend}, {n:,} apps x {ENDPOINTS} endpoints")
    load = [round(x, 1) for x in os.getloadavg()]
    got = {**one_size(bench, backend, n, sim_url, sink_url), "load_average": load}
    log(f"apps: {backend} {n:,}: {json.dumps(got)}")
    return got


@contextlib.contextmanager
def store_url(bench: Bench, backend: str, n: int) -> Any:
    """A fresh store's URL: a SQLite file, or a PostgreSQL schema of its own, dropped after."""
    if backend == "sqlite":
        db = bench.work / f"apps-{n}.db"
        try:
            yield f"sqlite:///{db}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        return
    schema = "bench_apps_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def one_size(bench: Bench, backend: str, n: int, sim_url: str, sink_url: str) -> dict[str, Any]:
    with store_url(bench, backend, n) as url:
        started = time.monotonic()
        fill = [sys.executable, str(BENCH / "fillapps.py"), "--url", url, "--apps", str(n)]
        fill += ["--sink", sink_url, "--keys", str(ENDING)]
        out = subprocess.run(fill, capture_output=True, text=True, check=True).stdout
        keys = [key for _, key in json.loads(out)["keys"]]
        made_s = round(time.monotonic() - started, 1)
        name = f"apps-{backend}-{n}"
        port = free_port()
        settings = relay_settings(
            bench.work / f"{name}.db",
            port,
            sim_url=sim_url,
            delivery={"allow_private_networks": True},
            storage_url=url,
        )
        config = bench.work / f"{name}.toml"
        config.write_text(to_toml(settings))
        argv = ["-m", "receiver", "serve", "--config", str(config)]
        began = time.perf_counter()
        relay = python_child(name, argv, bench.work, relay_env(port))
        bench.children.append(relay)
        try:
            start_s, start_cpu_s = until_healthy(relay, port, began)
            relay.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=600)
            at = Relay(f"http://127.0.0.1:{port}", sim_url, sink_url, name)
            got = measure(bench, relay, at, keys)
        finally:
            relay.stop()
            bench.children.remove(relay)
    start = {"start_s": round(start_s, 3), "start_cpu_s": round(start_cpu_s, 3)}
    return {"apps": n, "made_s": made_s, **start, **got}


def until_healthy(relay: Child, port: int, began: float) -> tuple[float, float]:
    """Seconds from the exec to the first 200 at /healthz, and the relay's CPU seconds then."""
    while time.perf_counter() - began < 600:
        if relay.proc.poll() is not None:
            raise RuntimeError(f"{relay.name} exited:\n{relay.tail()}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return time.perf_counter() - began, cpu_seconds(relay.pid)
        except OSError:
            time.sleep(0.01)
        finally:
            connection.close()
    raise RuntimeError(f"{relay.name}: no /healthz within 600 s")


class Spent:
    """The relay's CPU (every thread) over a block, in ms; its background work (what it does
    idle, at most a few % of a core) included."""

    def __init__(self, pid: int) -> None:
        self.pid, self.ms = pid, 0.0

    def __enter__(self) -> Spent:
        self._at = cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = 1000 * (cpu_seconds(self.pid) - self._at)


def measure(bench: Bench, relay: Child, at: Relay, keys: list[str]) -> dict[str, Any]:
    idle = IDLE_SECONDS / 2 if bench.plan.quick else IDLE_SECONDS
    with Spent(relay.pid) as spent:
        time.sleep(idle)
    out: dict[str, Any] = {
        "idle_cpu_pct": round(spent.ms / 10 / idle, 2),
        "rss_mb": round(rss_mb(relay.pid), 1),
    }
    app = at.client(keys[0])
    timed(lambda: at.admin.get("/v1/tasks"))  # builds the API: no call below pays for it
    clients = [at.client(key) for key in keys[:ENDING]]
    try:
        for step in (
            partial(one_app, relay.pid, at, app),
            partial(ending_at_once, relay.pid, at, clients),
            partial(first_pages, relay.pid, at, app),
        ):
            out |= step()
            log(f"apps: {relay.name}: {json.dumps(out)}")  # a run cut short keeps these
    finally:
        for client in [app, at.admin, *clients]:
            client.close()
    return out


def one_app(pid: int, at: Relay, app: httpx.Client) -> dict[str, Any]:
    """2. One app's calls, each the median of a few, and the relay's CPU for one."""
    out: dict[str, Any] = {}
    with Spent(pid) as spent:
        listed = [timed(lambda: app.get("/v1/downstreams")) for _ in range(ROUNDS)]
    out["list_ms"] = median_ms([t for t, _ in listed])
    out["list_cpu_ms"] = round(spent.ms / ROUNDS, 1)
    out["list_kb"] = round(len(listed[0][1].content) / 1024, 1)
    browser = at.portal(app)
    with Spent(pid) as spent:
        portal = [timed(lambda: browser.get("/portal/"))[0] for _ in range(ROUNDS)]
    browser.close()
    out["portal_ms"] = median_ms(portal)
    out["portal_cpu_ms"] = round(spent.ms / ROUNDS, 1)
    with Spent(pid) as spent:
        submits = [at.submit(app, f"one-{r}") for r in range(ROUNDS)]
    out["submit_ms"] = median_ms([t for t, _ in submits])
    out["submit_cpu_ms"] = round(spent.ms / ROUNDS, 1)
    ended = at.sent({f"one-{r}": task_id for r, (_, task_id) in enumerate(submits)})
    events, cpu = [], 0.0
    for task in ended:
        at.sink("reset")
        with Spent(pid) as spent:
            sent = at.end([task])
            events.append(at.delivered(ENDPOINTS)["last"] - sent)
        cpu += spent.ms  # in ticks of 10 ms: summed, not a median of ticks
    out["event_ms"] = median_ms(events)
    out["event_cpu_ms"] = round(cpu / len(ended), 1)
    creates, stalls = [], []
    port = int(at.url.rsplit(":", 1)[1])
    with Probe(port) as probe, Spent(pid) as spent:
        time.sleep(0.5)
        out["probe_idle_ms"] = round(1000 * probe.worst(0, time.perf_counter()), 2)
        for r in range(CREATES):
            body = {"name": f"new{r}", "url": f"{at.sink_url}/hook/new{r}"}
            since = time.perf_counter()
            took, _ = timed(partial(app.post, "/v1/downstreams", json=body), 201)
            time.sleep(0.05)  # a probe sent during the create answers after it
            creates.append(took)
            stalls.append(probe.worst(since - 0.01, since + took))
    out["create_ms"] = median_ms(creates)
    out["create_cpu_ms"] = round(spent.ms / CREATES, 1)  # the probes' few ms included
    out["create_stall_ms"] = round(1000 * max(stalls), 2)
    return out


def ending_at_once(pid: int, at: Relay, clients: list[httpx.Client]) -> dict[str, Any]:
    """3. 200 tasks of 200 apps (fewer apps: several each) ending at once."""
    began = time.perf_counter()
    tasks = {f"end-{i}": at.submit(clients[i % len(clients)], f"end-{i}")[1] for i in range(ENDING)}
    out: dict[str, Any] = {"submits_200_s": round(time.perf_counter() - began, 2)}
    ending = at.sent(tasks)
    at.sink("reset")
    with Spent(pid) as spent:
        sent = at.end(ending)
        got = at.delivered(ENDING * ENDPOINTS)
    out["burst_s"] = round(got["last"] - sent, 3)
    out["burst_per_s"] = round(ENDING * ENDPOINTS / (got["last"] - sent), 1)
    out["burst_cpu_ms_per_task"] = round(spent.ms / ENDING, 1)
    return out


def first_pages(pid: int, at: Relay, app: httpx.Client) -> dict[str, Any]:
    """4. The first page of the admin's list and of the app's."""
    out: dict[str, Any] = {}
    with Spent(pid) as spent:
        took, page = timed(lambda: at.admin.get("/v1/downstreams", params={"limit": 100}))
    out["admin_page_ms"] = round(1000 * took, 1)
    out["admin_page_cpu_ms"] = round(spent.ms, 1)
    out["admin_page_kb"] = round(len(page.content) / 1024, 1)
    pages = [timed(lambda: app.get("/v1/downstreams", params={"limit": 100})) for _ in range(3)]
    out["app_page_ms"] = median_ms([t for t, _ in pages])
    return out


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _judged(target: tuple[str, float] | None, base: float, values: list[float]) -> tuple[str, str]:
    """The target in words and the verdict: the largest size's figure against 10 apps'
    (`base`, measured just before it), or an absolute bound held at every size."""
    if target is None:
        return "-", ""
    kind, bound = target
    last = values[-1]
    if kind == "x":
        return f"<= {bound:g}x", verdict(last <= bound * base)
    if kind == ">x":
        return f">= {bound:g}x", verdict(last >= bound * base)
    if kind == "+":
        return f"<= +{bound:g}", verdict(last <= base + bound)
    return f"< {bound:g} at any size", verdict(max(values) < bound)


def rows(r: dict[str, Any]) -> list[Row]:
    if "apps" not in r:
        return []
    a = r["apps"]
    out: list[Row] = []
    for backend in BACKENDS:
        by_size = a.get(backend)
        if not by_size:
            continue
        sizes = [str(n) for n in a["sizes"] if str(n) in by_size]
        last = by_size[sizes[-1]]
        loads = "/".join(f"{by_size[n]['load_average'][0]:.0f}" for n in sizes)
        for key, what, unit, target in FIGURES:
            if any(key not in by_size[n] for n in sizes):
                continue  # a run before the figure was measured
            parts = []
            for n in sizes:
                value, base = by_size[n][key], by_size[n].get("against", {}).get(key)
                ratio = f" ({value / base:.1f}x)" if base else ""
                parts.append(f"{int(n):,}: {_number(value)} {unit}{ratio}")
            base = last.get("against", last)[key]
            wanted, ok = _judged(target, base, [by_size[n][key] for n in sizes])
            label = f"Apps x10 endpoints, {backend} (load {loads}): {what}"
            out.append((label, "; ".join(parts), wanted, ok))
    return out
