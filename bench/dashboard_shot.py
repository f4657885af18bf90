"""A picture of deploy/monitoring/dashboard.json drawn from a relay under load, for
docs/operations.md; Grafana itself is not run here (nor Prometheus):

    .venv/bin/python bench/dashboard_shot.py docs/screens/dashboard-1600.png [--seconds 75]

Starts on 127.0.0.1: CometAPI's simulator (bench/servers.py timed), a bare sink for the
`hook` downstream, the devtools sink for `flaky` (a share of 503s, then a stretch of 500s
that opens its breaker), and `receiver serve` with a third downstream, `picky`, whose filter
takes only succeeded tasks, and media copies on. For --seconds it submits tasks through the
API (video2video, which CometAPI calls back, and image_to_video, polled; one in eight
failing), keeps live streams open, and for a while makes CometAPI answer submits 429 and
polls 503. /metrics is scraped every second; each panel's targets are then evaluated over
those scrapes (bench/dashboard_queries.py), the page is laid out by gridPos in Grafana's dark
theme, and Debian's Chromium takes its picture 1600 px wide (--html keeps the page).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests.testkit

import httpx
from common import ADMIN_TOKEN, BENCH, SINK_SECRET_ENV, Child, python_child, start_relay
from dashboard_queries import Range, Scrapes, legend, query_range

from tests.chromium import missing, start_chromium
from tests.testkit import free_port

DASHBOARD = BENCH.parent / "deploy" / "monitoring" / "dashboard.json"
FOOTER = (
    "rendered from deploy/monitoring/dashboard.json by bench/dashboard_shot.py: each panel's"
    " query evaluated on the relay's own scrapes"
)
WIDTH = 1600
RATE = 4.0  # tasks submitted a second
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# (start, end) as shares of the run: CometAPI's 429s to submits, 503s to polls, the flaky
# downstream answering 500 to everything; the live streams each open over its own stretch.
SUBMITS_REFUSED, POLLS_FAILING, FLAKY_DOWN = (0.25, 0.4), (0.65, 0.75), (0.35, 0.6)
STREAMS = ((0.05, 0.8), (0.3, 1.0), (0.5, 1.0))


def log(message: str) -> None:
    print(f"[dashboard {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the relay under load ------------------------------------------------------------------


def relay_settings(port: int, metrics: int, sim: str, hook: str, flaky: str, work: Path) -> Any:
    # `flaky`'s breaker opens within seconds of its 500s (defaults: 20 attempts in 60 s).
    breaker = {"breaker_min_attempts": 6, "breaker_window_seconds": 10}
    breaker |= {"breaker_cool_off_seconds": 6}
    return {
        "server": {
            "host": "127.0.0.1",
            "public_url": f"http://127.0.0.1:{port}",
            "metrics_listen": f"127.0.0.1:{metrics}",
        },
        "upstream": {"base_url": sim, "timeout_seconds": 4, "max_concurrent_tasks": 48},
        "polling": {"callback_grace_seconds": 4},
        "delivery": {"retry_schedule": [0.5, 1, 2], "allow_private_networks": True},
        "media": {"enabled": True, "dir": str(work / "media"), "allow_private_sources": True},
        "storage": {"url": f"sqlite:///{work / 'relay.db'}"},
        "logging": {"level": "warning"},
        "advanced": {
            "server": {"metrics_count_seconds": 0.5},
            "upstream": {"submit_retry_initial_seconds": 1, "submit_retry_max_seconds": 4},
            "polling": {
                "initial_delay_seconds": 1,
                "interval_seconds": 1,
                "max_interval_seconds": 3,
                "near_gap_seconds": 0.5,
                "running_gap_seconds": 1,
                "waiting_gap_seconds": 1,
                "lost_callback_gap_seconds": 1,
                "task_not_exist_grace_seconds": 5,
                "scan_seconds": 0.25,
                "poll_lease_seconds": 5,
            },
            "delivery": {"jitter": 0.1, "outbox_scan_seconds": 0.25},
            "media": {"mirror_scan_seconds": 0.25},
        },
        "downstream": [
            {"name": "hook", "url": f"{hook}/hook", "secret_env": SINK_SECRET_ENV},
            {"name": "flaky", "url": f"{flaky}/hook", "secret_env": SINK_SECRET_ENV, **breaker},
            {
                "name": "picky",
                "url": f"{hook}/picky",
                "secret_env": SINK_SECRET_ENV,
                "filter": 'event.data.state == "succeeded"',
            },
        ],
    }


def serve_sink(port: int) -> None:
    """The devtools sink (its mode set over /_sink/mode) as a process of its own."""
    import uvicorn

    from receiver.devtools.sink import create_sink_app

    uvicorn.run(create_sink_app(), host="127.0.0.1", port=port, log_level="warning")


def submit_body(k: int) -> dict[str, Any]:
    timing = f"queue=1 run={(3, 5, 8, 12)[k % 4]}" + (" FAIL" if k % 8 == 7 else "")
    if k % 2:
        return {"kind": "image_to_video", "model": "gen4_turbo", "promptText": timing,
                "promptImage": "https://example.invalid/harbour.jpg"}  # fmt: skip
    return {"kind": "video2video", "video": "https://example.invalid/in.mp4", "prompt": timing}


class Load:
    """The threads that drive the relay and read it, until `stop` is set."""

    def __init__(self, relay: str, metrics: str, sim: str, flaky: str, seconds: float) -> None:
        self.relay, self.metrics, self.sim, self.flaky = relay, metrics, sim, flaky
        self.seconds = seconds
        self.stop = threading.Event()
        self.scrapes = Scrapes()
        self.counts = {"submitted": 0, "refused": 0, "scrapes": 0, "stream_events": 0}
        self.target = {"job": "runway-relay", "instance": metrics.split("//", 1)[1]}
        self.started = 0.0
        self.errors: list[str] = []

    def share(self) -> float:
        return (time.monotonic() - self.started) / self.seconds

    def run(self) -> None:
        self.started = time.monotonic()
        workers = [self.scrape, self.submit, self.faults]
        workers += [lambda w=w: self.stream(*w) for w in STREAMS]  # type: ignore[misc]
        threads = [threading.Thread(target=self.guarded(w), daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        self.stop.wait(self.seconds)
        self.stop.set()
        for thread in threads:
            thread.join(15)
        if self.errors:
            raise SystemExit("the load failed:\n" + "\n".join(self.errors))

    def guarded(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # a failed scrape or fault: the run fails, loudly
                self.errors.append(f"{work.__name__}: {exc!r}")
                self.stop.set()

        return run

    def scrape(self) -> None:
        with httpx.Client(timeout=5) as client:
            tick = time.monotonic()
            while not self.stop.is_set():
                text = client.get(f"{self.metrics}/metrics").raise_for_status().text
                self.scrapes.add_text(time.time(), text, self.target)
                self.counts["scrapes"] += 1
                tick += 1.0
                self.stop.wait(max(0.0, tick - time.monotonic()))

    def submit(self) -> None:
        with httpx.Client(base_url=self.relay, headers=AUTH, timeout=20) as client:
            k = 0
            while not self.stop.is_set():
                answer = client.post("/v1/tasks", json=submit_body(k))
                self.counts["submitted" if answer.status_code == 202 else "refused"] += 1
                k += 1
                self.stop.wait(max(0.0, self.started + k / RATE - time.monotonic()))

    def faults(self) -> None:
        """CometAPI's and the flaky sink's behaviour over the run, by share of it."""
        steps: list[tuple[float, str, dict[str, Any]]] = [
            (0.0, f"{self.sim}/_sim/faults", {"duplicate": 1}),
            (0.0, f"{self.flaky}/_sink/mode", {"flaky": 0.3}),
            (SUBMITS_REFUSED[0], f"{self.sim}/_sim/faults", {"submit_status": 429}),
            (SUBMITS_REFUSED[1], f"{self.sim}/_sim/faults", {"submit_status": None}),
            (FLAKY_DOWN[0], f"{self.flaky}/_sink/mode", {"status": 500}),
            (FLAKY_DOWN[1], f"{self.flaky}/_sink/mode", {"flaky": 0.3}),
            (POLLS_FAILING[0], f"{self.sim}/_sim/faults", {"poll_status": 503}),
            (POLLS_FAILING[1], f"{self.sim}/_sim/faults", {"poll_status": None}),
        ]
        with httpx.Client(timeout=10) as client:
            for share, url, body in steps:
                if self.stop.wait(max(0.0, self.started + share * self.seconds - time.monotonic())):
                    return
                client.post(url, json=body).raise_for_status()

    def stream(self, opens: float, closes: float) -> None:
        """One client on /v1/stream (`relay_streams_open`) from `opens` to `closes`."""
        if self.stop.wait(opens * self.seconds):
            return
        with httpx.Client(base_url=self.relay, headers=AUTH, timeout=3) as client:
            while not self.stop.is_set() and self.share() < closes:
                try:
                    with client.stream("GET", "/v1/stream") as answer:
                        for _ in answer.iter_lines():
                            self.counts["stream_events"] += 1
                            if self.stop.is_set() or self.share() >= closes:
                                break
                except httpx.ReadTimeout:
                    continue  # a quiet stretch: the stream is opened again


@contextmanager
def relay_under_load(work: Path) -> Iterator[tuple[Load, Callable[[float], None]]]:
    """The relay, its CometAPI and its downstreams, all started; stopped on the way out."""
    ports = {name: free_port() for name in ("sim", "hook", "flaky", "relay", "metrics")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    children: list[Child] = []

    def child(name: str, args: list[str], ready: str) -> None:
        made = python_child(name, args, work, {})
        children.append(made)
        made.wait_http(ready)

    try:
        child(
            "sim",
            [str(BENCH / "servers.py"), "timed", str(ports["sim"])],
            url["sim"] + "/_sim/stats",
        )
        child("hook", [str(BENCH / "servers.py"), "sink", str(ports["hook"])], url["hook"])
        flaky = [str(Path(__file__).resolve()), "--serve-sink", str(ports["flaky"])]
        child("flaky", flaky, url["flaky"] + "/_sink/mode")
        made = relay_settings(
            ports["relay"], ports["metrics"], url["sim"], url["hook"], url["flaky"], work
        )
        children.append(start_relay(work, "relay", made))
        load = Load(url["relay"], url["metrics"], url["sim"], url["flaky"], 0)

        def run(seconds: float) -> None:
            load.seconds = seconds
            load.run()

        yield load, run
    finally:
        for made_child in reversed(children):
            made_child.stop()


# --- the page ------------------------------------------------------------------------------

CELL, GAP, PAD, HEAD = 30, 8, 16, 64  # Grafana's grid: 30 px a row unit, 8 px between
PALETTE = ("#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
           "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17")  # fmt: skip
TEXT, WEAK, PANEL, LINE = "#ccccdc", "#8e8e9a", "#181b1f", "#2c3235"
CSS = f"""
body {{ margin: 0; background: #111217; color: {TEXT}; width: {WIDTH}px;
  font: 13px Inter, "Helvetica Neue", Arial, sans-serif; }}
.top {{ height: {HEAD - 16}px; display: flex; align-items: center; gap: 16px;
  padding: 0 {PAD}px; border-bottom: 1px solid {LINE}; margin-bottom: 16px; }}
.top h1 {{ font-size: 18px; font-weight: 500; margin: 0; }}
.pill {{ border: 1px solid {LINE}; border-radius: 2px; padding: 4px 8px; color: {TEXT}; }}
.pill b {{ color: {WEAK}; font-weight: 400; margin-right: 6px; }}
.grow {{ flex: 1; }}
.grid {{ position: relative; margin: 0 {PAD}px; }}
.panel {{ position: absolute; background: {PANEL}; border: 1px solid {LINE};
  border-radius: 2px; box-sizing: border-box; overflow: hidden; }}
.panel h2 {{ font-size: 14px; font-weight: 500; margin: 0; padding: 8px 8px 0;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.row {{ position: absolute; font-size: 16px; font-weight: 500; display: flex;
  align-items: center; border-bottom: 1px solid {LINE}; }}
.row::before {{ content: "\\25BE"; margin-right: 8px; color: {WEAK}; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 2px 14px; padding: 0 8px 6px 12px;
  font-size: 12px; }}
.legend span {{ display: inline-flex; align-items: center; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 14px; height: 4px; border-radius: 2px;
  margin-right: 6px; }}
.nodata {{ color: {WEAK}; font-size: 16px; display: flex; align-items: center;
  justify-content: center; }}
.foot {{ color: {WEAK}; font-size: 12px; padding: 12px {PAD}px 16px; }}
"""


def formatted(value: float, unit: str | None, decimals: int = 3) -> str:
    """A value as Grafana writes it for `unit` (s, bytes, reqps, ops, short)."""
    if math.isnan(value):
        return "NaN"

    def num(v: float) -> str:
        text = f"{v:.{decimals}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"
        return text if "e" in text or abs(v) < 1e15 else f"{v:.2e}"

    def scaled(v: float, step: float, names: tuple[str, ...]) -> str:
        k = 0
        while abs(v) >= step and k < len(names) - 1:
            v, k = v / step, k + 1
        return f"{num(v)}{names[k]}"

    if unit == "s":
        a = abs(value)
        if a == 0:
            return "0 s"
        if a < 1e-3:
            return f"{num(value * 1e6)} µs"
        if a < 1:
            return f"{num(value * 1e3)} ms"
        return f"{num(value)} s" if a < 60 else f"{num(value / 60)} min"
    if unit == "bytes":
        return scaled(value, 1024, (" B", " KiB", " MiB", " GiB", " TiB"))
    short = scaled(value, 1000, ("", " K", " Mil", " Bil", " Tri"))
    return {"reqps": f"{short} req/s", "ops": f"{short} ops/s"}.get(unit or "", short)


def ticks(lo: float, hi: float, unit: str | None, count: int = 4) -> list[float]:
    """Round values from lo to hi, about `count` apart (1, 2 or 5 times a power of ten; of
    KiB, MiB, ... for bytes)."""
    scale = 1024 ** max(0, math.floor(math.log(hi, 1024))) if unit == "bytes" and hi > 0 else 1
    if scale > 1:
        return [t * scale for t in ticks(lo / scale, hi / scale, None, count)]
    raw = (hi - lo) / count or 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


Series = tuple[str, list[tuple[float, float]]]  # legend, points


def rule(x1: float, x2: float, y1: float, y2: float) -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{LINE}"/>'


def chart(series: list[Series], unit: str | None, w: int, h: int, span: tuple[float, float]) -> str:
    """A timeseries as Grafana's dark theme draws it: y axis with the unit, time axis, lines."""
    left, bottom, top, right = 62, 22, 8, 12
    values = [v for _, points in series for _, v in points if math.isfinite(v)]
    if not values:
        return f'<div class="nodata" style="height:{h}px">No data</div>'
    lo, hi = min(0.0, min(values)), max(values)
    hi = hi if hi > lo else lo + 1
    marks = ticks(lo, hi, unit)
    hi = max(hi, marks[-1])
    t0, t1 = span

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (w - left - right)

    def y(v: float) -> float:
        return top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom)

    parts = [f'<svg width="{w}" height="{h}" font-size="11" fill="{WEAK}">']
    for v in marks:
        parts.append(rule(left, w - right, y(v), y(v)))
        label = html.escape(formatted(v, unit))
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{label}</text>')
    every = next(s for s in (5, 10, 15, 20, 30, 60, 120, 300) if (t1 - t0) / s <= 8)
    for second in range(math.ceil(t0 / every) * every, math.floor(t1) + 1, every):
        clock = time.strftime("%H:%M:%S", time.localtime(second))
        parts.append(rule(x(second), x(second), top, h - bottom))
        parts.append(f'<text x="{x(second):.1f}" y="{h - 6}" text-anchor="middle">{clock}</text>')
    for k, (_, points) in enumerate(series):
        runs: list[list[str]] = [[]]
        for t, v in points:
            if math.isfinite(v):
                runs[-1].append(f"{x(t):.1f},{y(v):.1f}")
            elif runs[-1]:
                runs.append([])  # NaN: a gap, as Grafana leaves it
        colour = PALETTE[k % len(PALETTE)]
        for run in runs:
            if run:
                line = f'fill="none" stroke="{colour}" stroke-width="1.5"'
                parts.append(f'<polyline {line} points="{" ".join(run)}"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_rows(names: list[str], width: int) -> int:
    """How many lines the legend wraps to (12 px text, a swatch and a gap each)."""
    rows, used = 1, 0.0
    for name in names:
        item = 20 + 6.8 * len(name) + 14
        if used and used + item > width - 64:
            rows, used = rows + 1, 0.0
        used += item
    return rows


def stat(series: list[Series], unit: str | None, w: int, h: int, span: tuple[float, float]) -> str:
    """Grafana's stat: the last value that is not null, coloured by the default thresholds
    (green, red from 80), over a sparkline of the series."""
    finite = [(t, v) for t, v in (series[0][1] if series else []) if math.isfinite(v)]
    if not finite:
        return f'<div class="nodata" style="height:{h}px">No data</div>'
    value = finite[-1][1]
    colour = "#F2495C" if value >= 80 else "#73BF69"
    t0, t1 = span
    lo, hi = min(v for _, v in finite), max(v for _, v in finite)
    hi = hi if hi > lo else lo + 1
    spark = " ".join(
        f"{(t - t0) / (t1 - t0) * w:.1f},{h - 4 - (v - lo) / (hi - lo) * (h * 0.45):.1f}"
        for t, v in finite
    )
    text = html.escape(formatted(value, unit))
    size = min(48, h // 2)
    return (
        f'<svg width="{w}" height="{h}"><polygon points="0,{h} {spark} {w},{h}" fill="{colour}"'
        f' fill-opacity="0.15"/><polyline points="{spark}" fill="none" stroke="{colour}"/>'
        f'<text x="{w / 2}" y="{h / 2 + size / 3}" text-anchor="middle" font-size="{size}"'
        f' font-weight="500" fill="{colour}">{text}</text></svg>'
    )


def panel_series(panel: dict[str, Any], scrapes: Scrapes) -> list[Series]:
    """Each target's series over the scrapes, named by its legendFormat, in label order."""
    found: list[Series] = []
    for target in panel.get("targets", []):
        result: Range = query_range(target["expr"], scrapes, scrapes.times)
        name = target.get("legendFormat")
        named = [(legend(name, k, target["expr"]), p) for k, p in result.items()]
        found += sorted(named, key=lambda s: s[0])
    return found


def page(board: dict[str, Any], scrapes: Scrapes) -> tuple[str, int]:
    """The dashboard as HTML, and its height in px."""
    column = (WIDTH - 2 * PAD + GAP) / 24
    span = (scrapes.times[0], scrapes.times[-1])
    body, bottom = [], 0
    for panel in board["panels"]:
        g = panel["gridPos"]
        x, y = round(g["x"] * column), g["y"] * (CELL + GAP)
        w, h = round(g["w"] * column - GAP), g["h"] * (CELL + GAP) - GAP
        bottom = max(bottom, y + h)
        box = f"left:{x}px;top:{y}px;width:{w}px;height:{h}px"
        title = html.escape(panel.get("title", ""))
        if panel["type"] == "row":
            body.append(f'<div class="row" style="{box}">{title}</div>')
            continue
        series = panel_series(panel, scrapes)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if panel["type"] == "stat":
            inner = stat(series, unit, w - 2, h - 32, span)
        elif panel["type"] == "timeseries":
            names = [name for name, _ in series]
            rows = legend_rows(names, w) if names else 0
            inner = chart(series, unit, w - 2, h - 34 - 18 * rows, span)
            items = "".join(
                f'<span><i style="background:{PALETTE[k % len(PALETTE)]}"></i>'
                f"{html.escape(name)}</span>"
                for k, name in enumerate(names)
            )
            inner += f'<div class="legend">{items}</div>'
        else:
            raise SystemExit(f"panel {title!r}: a {panel['type']} panel is not drawn here")
        body.append(f'<div class="panel" style="{box}"><h2>{title}</h2>{inner}</div>')
    first, last = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in span)
    seconds = round(span[1] - span[0])
    top = (
        f'<div class="top"><h1>{html.escape(board["title"])}</h1>'
        '<span class="pill"><b>Data source</b>relay /metrics, scraped every 1 s</span>'
        '<span class="pill"><b>Downstream</b>All</span><span class="grow"></span>'
        f'<span class="pill">{first} to {last[11:]} (last {seconds} s)</span></div>'
    )
    grid = f'<div class="grid" style="height:{bottom}px">{"".join(body)}</div>'
    document = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(board["title"])}'
        f"</title><style>{CSS}</style></head><body>{top}{grid}"
        f'<div class="foot">{html.escape(FOOTER)}</div></body></html>'
    )
    return document, HEAD + bottom + 48


# --- the picture ---------------------------------------------------------------------------


def screenshot(document: Path, out: Path, height: int) -> None:
    """Debian's Chromium, headless, as the browser tests start it: the page at WIDTH px and
    its full height."""
    if (why := missing()) is not None:
        raise SystemExit(why)
    driver, profile = start_chromium((WIDTH, height), ("--hide-scrollbars",))
    try:
        driver.get(document.as_uri())
        full = int(driver.execute_script("return document.documentElement.scrollHeight"))
        metrics = {"width": WIDTH, "height": full, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        out.write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the PNG to write")
    parser.add_argument("--seconds", type=float, default=75, help="how long the load runs")
    parser.add_argument("--html", type=Path, help="keep the page here too")
    parser.add_argument("--serve-sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink)
        return
    if args.out is None:
        parser.error("the PNG to write is missing")
    board = json.loads(DASHBOARD.read_text())
    started = time.monotonic()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dashboard-shot-")))
        log(f"starting the simulator, two sinks and the relay in {work}")
        load, run = stack.enter_context(relay_under_load(work))
        log(f"relay ready; {args.seconds:g} s of load at {RATE:g} submits/s")
        run(args.seconds)
        log(f"load done: {json.dumps(load.counts)}")
    if load.counts["scrapes"] < 10:
        raise SystemExit(f"only {load.counts['scrapes']} scrapes: nothing to draw")
    document, height = page(board, load.scrapes)
    target = args.html or Path(tempfile.mkdtemp(prefix="dashboard-page-")) / "dashboard.html"
    target.write_text(document)
    screenshot(target.resolve(), args.out, height)
    if args.html is None:
        shutil.rmtree(target.parent, ignore_errors=True)
    log(f"wrote {args.out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
