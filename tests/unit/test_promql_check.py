"""tests/promql.py, the check of deploy/monitoring/'s expressions, finds what Prometheus would
find missing, and only that: a metric not exported, a label a matcher or a grouping names
that is not on its operand at that point, a matched value no series has."""

from __future__ import annotations

import pytest

from tests.promql import checked, exported, problems

SCRAPE = """\
# TYPE relay_deliveries_total counter
relay_deliveries_total{downstream="hook",outcome="succeeded"} 3.0
relay_deliveries_total{downstream="hook",outcome="dead"} 1.0
# TYPE relay_callback_seconds histogram
relay_callback_seconds_bucket{le="0.1"} 2.0
relay_callback_seconds_bucket{le="+Inf"} 2.0
relay_callback_seconds_count 2.0
relay_callback_seconds_sum 0.1
# TYPE relay_submit_queue gauge
relay_submit_queue 0.0
"""
SERIES = exported(SCRAPE)


@pytest.mark.parametrize(
    "expr",
    [
        'sum by (downstream) (rate(relay_deliveries_total{outcome=~"dead|succeeded"}[5m]))',
        "histogram_quantile(0.99, sum by (le) (rate(relay_callback_seconds_bucket[5m])))",
        "up == 0 and on (job, instance) present_over_time(relay_submit_queue[1h])",
        "max(relay_submit_queue) > 0 and on () (sum(relay_deliveries_total) or vector(0))",
        'relay_deliveries_total{downstream=~".*"} / ignoring (outcome) group_left '
        "sum without (outcome) (relay_deliveries_total)",
    ],
)
def test_what_the_relay_exports_passes(expr: str) -> None:
    assert problems(expr, SERIES) == []


@pytest.mark.parametrize(
    ("expr", "said"),
    [
        ("rate(relay_delivery_total[5m])", "relay_delivery_total: not exported"),
        ("relay_callback_seconds", "relay_callback_seconds: not exported"),  # _bucket, _sum
        ('relay_deliveries_total{state="dead"}', "relay_deliveries_total: no label state"),
        ('relay_deliveries_total{outcome="failed"}', "no outcome ['failed']"),
        ('relay_deliveries_total{outcome=~"dead|failed"}', "no outcome ['failed']"),
        ('relay_deliveries_total{downstream=~"crm.*"}', "no downstream matches 'crm.*'"),
        ("sum by (app) (relay_deliveries_total)", "sum by names ['app']"),
        # Aggregated away before it is matched on.
        (
            "sum by (downstream) (relay_deliveries_total) / on (outcome) relay_deliveries_total",
            "/ on (left) names ['outcome']",
        ),
        ("histogram_quantile(0.9, sum(rate(relay_callback_seconds_bucket[5m])))", "['le']"),
    ],
)
def test_what_it_does_not_is_named(expr: str, said: str) -> None:
    found = problems(expr, SERIES)
    assert len(found) == 1 and said in found[0], found


def test_the_result_carries_the_labels_prometheus_keeps() -> None:
    by = "sum by (downstream) (rate(relay_deliveries_total[5m])) > 0"
    assert checked(by, SERIES)[0] == {"downstream"}
    on = "relay_submit_queue and on (job) relay_submit_queue"
    assert checked(on, SERIES)[0] == {"job", "instance"}
    assert checked("count(relay_submit_queue)", SERIES)[0] == frozenset()
