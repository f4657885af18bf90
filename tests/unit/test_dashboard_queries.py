"""bench/dashboard_queries.py, the PromQL evaluator bench/dashboard_shot.py draws the
dashboard's panels with: rate over a window with a counter reset, the aggregations,
histogram_quantile, the matchers, and every expression of deploy/monitoring/dashboard.json
within the subset it evaluates."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

# promql_parser is a dev tool: the core install leaves this module out (conftest.py).
dq: Any = importlib.import_module("bench.dashboard_queries")

DASHBOARD = Path(__file__).parents[2] / "deploy" / "monitoring" / "dashboard.json"
TARGET = {"job": "relay", "instance": "127.0.0.1:9100"}


def scrapes(*rows: tuple[float, list[tuple[dict[str, str], float]]]) -> Any:
    kept = dq.Scrapes()
    for at, samples in rows:
        kept.add(at, [({**TARGET, **labels}, value) for labels, value in samples])
    return kept


def counter(name: str, **labels: str) -> dict[str, str]:
    return {"__name__": name, **labels}


def values(vector: dict[Any, float]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(p for p in k if p[0] not in TARGET): v for k, v in vector.items()}


def test_rate_is_the_increase_over_the_window_a_fall_being_a_reset() -> None:
    c = counter("relay_polls_total", outcome="observed")
    kept = scrapes(*((float(t), [(c, v)]) for t, v in enumerate([0, 10, 20, 30, 5, 15, 25])))
    # A 4 s window at t=6 holds t=3..6: 30 -> 5 is a reset, so 0 + 5 + 10 + 10 over 3 s.
    got = dq.instant("rate(relay_polls_total[4s])", kept, 6.0)
    assert values(got) == {(("outcome", "observed"),): pytest.approx(25 / 3)}
    assert all("__name__" not in dict(k) for k in got)
    # Before the window holds two samples, nothing; steady: 10 a second.
    assert dq.instant("rate(relay_polls_total[4s])", kept, 0.0) == {}
    assert list(dq.instant("rate(relay_polls_total[4s])", kept, 3.0).values()) == [10.0]


def test_sum_by_adds_the_series_of_each_group_and_drops_the_rest() -> None:
    rows = [
        (counter("relay_deliveries_total", downstream="hook", outcome="succeeded"), 4.0),
        (counter("relay_deliveries_total", downstream="hook", outcome="retry"), 1.0),
        (counter("relay_deliveries_total", downstream="flaky", outcome="retry"), 2.0),
    ]
    kept = scrapes((1.0, rows))
    got = dq.instant("sum by (outcome) (relay_deliveries_total)", kept, 1.0)
    assert got == {(("outcome", "retry"),): 3.0, (("outcome", "succeeded"),): 4.0}
    assert dq.instant("sum(relay_deliveries_total)", kept, 1.0) == {(): 7.0}


def test_max_by_and_count() -> None:
    a = {**TARGET, "__name__": "relay_tasks", "state": "running"}
    b = {**a, "instance": "127.0.0.1:9101"}
    kept = dq.Scrapes()
    kept.add(1.0, [(a, 3.0), (b, 5.0), ({**a, "state": "queued"}, 2.0)])
    got = dq.instant("max by (state) (relay_tasks)", kept, 1.0)
    assert got == {(("state", "queued"),): 2.0, (("state", "running"),): 5.0}
    assert dq.instant('count(relay_tasks{state="running"})', kept, 1.0) == {(): 2.0}


def test_a_series_gone_from_the_latest_scrape_is_stale() -> None:
    g = counter("relay_streams_open")
    kept = scrapes((1.0, [(g, 2.0)]), (2.0, []))
    assert dq.instant("max(relay_streams_open)", kept, 1.5) == {(): 2.0}
    assert dq.instant("max(relay_streams_open)", kept, 2.0) == {}


def test_histogram_quantile_interpolates_within_its_bucket() -> None:
    def buckets(at: float, counts: list[float]) -> tuple[float, list[Any]]:
        bounds = ["0.1", "0.5", "1.0", "+Inf"]
        made = [
            (counter("relay_poll_seconds_bucket", le=le), n)
            for le, n in zip(bounds, counts, strict=True)
        ]
        return at, made

    kept = scrapes(buckets(0.0, [0, 0, 0, 0]), buckets(10.0, [10, 50, 90, 100]))
    expr = "histogram_quantile(%s, sum by (le) (rate(relay_poll_seconds_bucket[15s])))"
    # 100 in all: rank 50 is the 0.5 bucket's top; rank 95 is past 1.0: the last finite bound.
    assert list(dq.instant(expr % "0.5", kept, 10.0).values()) == [pytest.approx(0.5)]
    assert list(dq.instant(expr % "0.3", kept, 10.0).values()) == [pytest.approx(0.3)]
    assert list(dq.instant(expr % "0.95", kept, 10.0).values()) == [pytest.approx(1.0)]
    assert list(dq.instant(expr % "0.05", kept, 10.0).values()) == [pytest.approx(0.05)]
    # Nothing observed in the window: NaN, a gap on the chart.
    quiet = scrapes(buckets(0.0, [1, 1, 1, 1]), buckets(1.0, [1, 1, 1, 1]))
    assert all(math.isnan(v) for v in dq.instant(expr % "0.5", quiet, 1.0).values())


def test_regex_and_not_equal_matchers() -> None:
    rows = [
        (counter("relay_outbox", state="pending"), 3.0),
        (counter("relay_outbox", state="dead"), 2.0),
        (counter("relay_outbox", state="succeeded"), 90.0),
    ]
    kept = scrapes((1.0, rows))
    got = dq.instant('max by (state) (relay_outbox{state!="succeeded"})', kept, 1.0)
    assert got == {(("state", "dead"),): 2.0, (("state", "pending"),): 3.0}
    assert dq.instant('sum(relay_outbox{state=~"pend.*|dead"})', kept, 1.0) == {(): 5.0}
    # Anchored, as Prometheus's are: "ead" matches no whole value.
    assert dq.instant('sum(relay_outbox{state=~"ead"})', kept, 1.0) == {}
    # The dashboard's "All": every downstream.
    assert dq.instant('count(relay_outbox{state=~"$downstream"})', kept, 1.0) == {(): 3.0}


def test_a_query_outside_the_subset_fails_naming_it() -> None:
    for expr in (
        "increase(relay_polls_total[5m])",
        "relay_polls_total / relay_callbacks_total",
        "topk(3, relay_tasks)",
        "relay_tasks offset 5m",
        "rate(relay_polls_total[$__range])",
    ):
        with pytest.raises(dq.Unsupported, match="relay_"):
            dq.parse(expr)


def test_every_dashboard_expression_parses_within_the_subset() -> None:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    for expr in exprs:
        dq.parse(expr)


def test_legend_fills_labels_from_the_format() -> None:
    labels = (("downstream", "hook"), ("outcome", "retry"))
    assert dq.legend("{{downstream}} {{ outcome }}", labels, "x") == "hook retry"
    assert dq.legend(None, labels, "x") == '{downstream="hook", outcome="retry"}'
    assert dq.legend("", (), "max(relay_tasks)") == "max(relay_tasks)"
