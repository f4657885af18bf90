"""Media: copying a 500 MB render raises memory by little more than a chunk."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from common import BENCH
from harness import Bench, Row, verdict

from tests.testkit import free_port

SIZE = 500 * 1024 * 1024


def run(bench: Bench) -> None:
    files = bench.work / "media-src"
    files.mkdir(exist_ok=True)
    with (files / "render.mp4").open("wb") as out:
        out.truncate(SIZE)  # sparse: the disk holds nothing until the copy writes it
    port = free_port()
    server = bench.child(
        "media-src",
        ["-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(files)],
        f"http://127.0.0.1:{port}/",
    )
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(BENCH / "mirrorone.py"),
                f"http://127.0.0.1:{port}/render.mp4",
                str(bench.work / "media-copy"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        server.stop()
        bench.children.remove(server)
    figures = json.loads(done.stdout)
    figures["rss_growth_mb"] = round(
        figures["peak_rss_after_mb"] - figures["peak_rss_before_mb"], 1
    )
    bench.results["media"] = figures
    (bench.work / "media-copy" / "bench" / "file.mp4").unlink(missing_ok=True)


def rows(r: dict[str, Any]) -> list[Row]:
    if "media" not in r:
        return []
    m = r["media"]
    return [
        (
            f"Mirroring a {m['bytes'] // 2**20} MB file (peak RSS growth)",
            f"{m['rss_growth_mb']} MB in {m['seconds']} s",
            "< 50 MB",
            verdict(m["rss_growth_mb"] < 50),
        )
    ]
