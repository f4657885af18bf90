"""Ingest with logging at info (the default) against warning, in ABBA slices."""

from __future__ import annotations

import statistics
from typing import Any

from harness import Bench, Row

from .ingest import abba, relay_slices


def run(bench: Bench) -> None:
    """The default log level (one line per accepted callback) against `warning`."""
    store = bench.snapshot(10_000)
    with (
        bench.relay("quiet", bench.fresh_copy(store, "quiet")) as quiet,
        bench.relay("info", bench.fresh_copy(store, "info"), level="info") as info,
    ):
        warning_runs, info_runs = abba(
            bench, relay_slices(bench, *quiet, "quiet"), relay_slices(bench, *info, "info")
        )
    ratios = [b["rps"] / a["rps"] for a, b in zip(warning_runs, info_runs, strict=True)]
    bench.results["ingest_info"] = {
        "warning_runs": warning_runs,
        "info_runs": info_runs,
        "rps": statistics.median(r["rps"] for r in info_runs),
        "ratio_to_warning": round(statistics.median(ratios), 3),
    }


def rows(r: dict[str, Any]) -> list[Row]:
    if "ingest_info" not in r:
        return []
    info = r["ingest_info"]
    return [
        (
            "Ingest with logging at info (the default)",
            f"{info['rps']:.0f}/s = {100 * info['ratio_to_warning']:.0f}% of warning level"
            f" (median of {len(info['info_runs'])} pairs)",
            "-",
            "",
        )
    ]


def failed(r: dict[str, Any]) -> int:
    info = r.get("ingest_info", {})
    runs = [*info.get("warning_runs", []), *info.get("info_runs", [])]
    return sum(int(run["errors"]) for run in runs)
