"""A small PromQL evaluator over kept scrapes, for the subset deploy/monitoring/dashboard.json
uses, so that bench/dashboard_shot.py can draw each panel from the relay's own /metrics.

The subset: a selector with `=`, `!=`, `=~`, `!~` matchers; `rate(selector[range])`;
`sum`, `max`, `min`, `count`, `avg` with or without `by (...)`/`without (...)`; and
`histogram_quantile(q, vector)`. Prometheus's rules are kept where they show: an instant
selector takes a series' last sample at or before the evaluation time (none once the series
left the scrapes, or older than the 5 min lookback), a range is left-open, a function or an
aggregation drops `__name__`, a counter going down is a reset. `rate` is the increase over
the window (resets handled) divided by the time between the window's first and last
sample, with no extrapolation to the window's edges. Anything else raises `Unsupported`
naming the expression: a panel is never drawn empty because its query was not understood.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import promql_parser as promql
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]  # sorted by name; `__name__` on a raw series
Vector = dict[Labels, float]
Range = dict[Labels, list[tuple[float, float]]]  # each series' (time, value) points
LOOKBACK_SECONDS = 300.0  # Prometheus's default lookback delta
# What Grafana puts in an expression before Prometheus sees it, as this tool runs it: the
# rate window (4 scrape intervals of 1 s is 4 s; 15 s keeps the lines readable), and the
# downstream variable's "All" (the dashboard's allValue).
VARIABLES = {"$__rate_interval": "15s", "$downstream": ".*"}

_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "max": max,
    "min": min,
    "count": lambda values: float(len(values)),
    "avg": lambda values: math.fsum(values) / len(values),
}


class Unsupported(ValueError):
    """An expression (or a part of one) outside the subset this evaluator knows."""


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


@dataclass
class Scrapes:
    """Every sample of every scrape, by series, with the time each scrape was taken."""

    times: list[float] = field(default_factory=list)
    series: dict[Labels, list[tuple[float, float]]] = field(default_factory=dict)

    def add_text(self, at: float, text: str, target: Mapping[str, str]) -> None:
        """One scrape's exposition text, each sample labelled with the target's labels
        (`job`, `instance`), as Prometheus stores it."""
        samples = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = {**sample.labels, **target, "__name__": sample.name}
                samples.append((labels, float(sample.value)))
        self.add(at, samples)

    def add(self, at: float, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        if self.times and at <= self.times[-1]:
            raise ValueError(f"scrape at {at} is not after the last one ({self.times[-1]})")
        self.times.append(at)
        for labels, value in samples:
            self.series.setdefault(labels_of(labels), []).append((at, value))

    def last_scrape(self, at: float) -> float | None:
        k = bisect.bisect_right(self.times, at)
        return self.times[k - 1] if k else None


def substituted(expr: str, variables: Mapping[str, str] = VARIABLES) -> str:
    """`expr` with the dashboard's variables replaced; one left over is unsupported."""
    for name, value in variables.items():
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    if "$" in expr:
        raise Unsupported(f"{expr}: a variable this tool does not set")
    return expr


def parse(expr: str) -> promql.Expr:
    """The tree of `expr` (variables replaced), checked to be within the subset."""
    tree = promql.parse(substituted(expr))
    _Evaluate(Scrapes(), expr).value(tree, 0.0)  # walks every node: raises outside the subset
    return tree


def instant(expr: str, scrapes: Scrapes, at: float) -> Vector:
    """`expr` evaluated at time `at`."""
    result = _Evaluate(scrapes, expr).value(promql.parse(substituted(expr)), at)
    if not isinstance(result, dict):
        raise Unsupported(f"{expr}: a scalar where a vector is wanted")
    return result


def query_range(expr: str, scrapes: Scrapes, times: Iterable[float]) -> Range:
    """`expr` evaluated at each of `times`, as Grafana's range query asks; NaN kept."""
    tree = promql.parse(substituted(expr))
    evaluate = _Evaluate(scrapes, expr)
    out: Range = {}
    for at in times:
        result = evaluate.value(tree, at)
        if not isinstance(result, dict):
            raise Unsupported(f"{expr}: a scalar where a vector is wanted")
        for labels, value in result.items():
            out.setdefault(labels, []).append((at, value))
    return out


def increase(points: list[tuple[float, float]]) -> float:
    """A counter's increase over its points, a fall taken as a reset to 0."""
    total = 0.0
    for (_, before), (_, after) in itertools.pairwise(points):
        total += after - before if after >= before else after
    return total


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's bucketQuantile: `buckets` as (upper bound, cumulative count)."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets)
    if len(buckets) < 2 or buckets[-1][0] != math.inf:
        return math.nan
    counts, highest = [], 0.0
    for _, count in buckets:  # a bucket counted below the one before it: made monotonic
        highest = max(highest, count)
        counts.append(highest)
    total = counts[-1]
    if total == 0 or math.isnan(total):
        return math.nan
    rank = q * total
    b = bisect.bisect_left(counts, rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start = 0.0 if b == 0 else buckets[b - 1][0]
    below = 0.0 if b == 0 else counts[b - 1]
    inside = counts[b] - below
    return start + (buckets[b][0] - start) * ((rank - below) / inside)


def _without_name(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != "__name__")


class _Evaluate:
    def __init__(self, scrapes: Scrapes, expr: str) -> None:
        self.scrapes = scrapes
        self.expr = expr

    def unsupported(self, what: str) -> Unsupported:
        return Unsupported(f"{self.expr}: {what} is outside the subset this tool evaluates")

    def value(self, node: object, at: float) -> Vector | float:
        if isinstance(node, promql.ParenExpr):
            return self.value(node.expr, at)
        if isinstance(node, promql.NumberLiteral):
            return float(node.val)
        if isinstance(node, promql.VectorSelector):
            return self.select(node, at)
        if isinstance(node, promql.AggregateExpr):
            return self.aggregate(node, at)
        if isinstance(node, promql.Call):
            return self.call(node, at)
        raise self.unsupported(f"{type(node).__name__} `{node}`")

    def vector(self, node: object, at: float) -> Vector:
        result = self.value(node, at)
        if not isinstance(result, dict):
            raise self.unsupported(f"a number (`{node}`) where a vector is wanted")
        return result

    def matching(self, node: promql.VectorSelector) -> Callable[[Labels], bool]:
        if node.offset is not None or node.at is not None:
            raise self.unsupported(f"offset or @ in `{node}`")
        if node.matchers.or_matchers:
            raise self.unsupported(f"`or` in the matchers of `{node}`")
        tests: list[Callable[[dict[str, str]], bool]] = []
        if node.name:
            tests.append(self.matcher("__name__", promql.MatchOp.Equal, node.name))
        for m in node.matchers.matchers:
            tests.append(self.matcher(m.name, m.op, m.value))
        return lambda labels: all(test(dict(labels)) for test in tests)

    def matcher(self, name: str, op: object, value: str) -> Callable[[dict[str, str]], bool]:
        if op == promql.MatchOp.Equal:
            return lambda labels: labels.get(name, "") == value
        if op == promql.MatchOp.NotEqual:
            return lambda labels: labels.get(name, "") != value
        pattern = re.compile(value)
        if op == promql.MatchOp.Re:
            return lambda labels: pattern.fullmatch(labels.get(name, "")) is not None
        if op == promql.MatchOp.NotRe:
            return lambda labels: pattern.fullmatch(labels.get(name, "")) is None
        raise self.unsupported(f"the matcher {name} {op} {value!r}")

    def select(self, node: promql.VectorSelector, at: float) -> Vector:
        matches = self.matching(node)
        latest = self.scrapes.last_scrape(at)
        out: Vector = {}
        for labels, points in self.scrapes.series.items():
            if latest is None or not matches(labels):
                continue
            k = bisect.bisect_right(points, (at, math.inf))
            if not k:
                continue
            when, value = points[k - 1]
            # Gone from the latest scrape: stale, as Prometheus marks it.
            if when == latest and at - when <= LOOKBACK_SECONDS:
                out[labels] = value
        return out

    def window(
        self, node: promql.MatrixSelector, at: float
    ) -> dict[Labels, list[tuple[float, float]]]:
        matches = self.matching(node.vector_selector)
        seconds = node.range.total_seconds()
        out = {}
        for labels, points in self.scrapes.series.items():
            if matches(labels):
                lo = bisect.bisect_right(points, (at - seconds, math.inf))
                hi = bisect.bisect_right(points, (at, math.inf))
                if hi > lo:
                    out[labels] = points[lo:hi]
        return out

    def call(self, node: promql.Call, at: float) -> Vector:
        name = node.func.name
        if name == "rate":
            (arg,) = node.args
            if not isinstance(arg, promql.MatrixSelector):
                raise self.unsupported(f"rate of `{arg}` (not a range selector)")
            out: Vector = {}
            for labels, points in self.window(arg, at).items():
                if len(points) >= 2 and points[-1][0] > points[0][0]:
                    span = points[-1][0] - points[0][0]
                    out[_without_name(labels)] = increase(points) / span
            return out
        if name == "histogram_quantile":
            q = self.value(node.args[0], at)
            vector = self.vector(node.args[1], at)
            if not isinstance(q, float):
                raise self.unsupported(f"a quantile that is not a number (`{node.args[0]}`)")
            groups: dict[Labels, list[tuple[float, float]]] = {}
            for labels, count in vector.items():
                le = dict(labels).get("le")
                if le is None:
                    continue  # Prometheus ignores a series without `le`
                rest = tuple(p for p in labels if p[0] not in ("le", "__name__"))
                groups.setdefault(rest, []).append((float(le), count))
            return {labels: bucket_quantile(q, b) for labels, b in groups.items()}
        raise self.unsupported(f"the function {name}()")

    def aggregate(self, node: promql.AggregateExpr, at: float) -> Vector:
        op = str(node.op)
        if op not in _AGGREGATIONS or node.param is not None:
            raise self.unsupported(f"the aggregation {op}")
        vector = self.vector(node.expr, at)
        modifier = node.modifier
        groups: dict[Labels, list[float]] = {}
        for labels, value in vector.items():
            if modifier is None:
                key: Labels = ()
            elif modifier.type == promql.AggModifierType.By:
                key = tuple(p for p in labels if p[0] in modifier.labels)
            else:
                key = tuple(p for p in _without_name(labels) if p[0] not in modifier.labels)
            groups.setdefault(key, []).append(value)
        return {key: _AGGREGATIONS[op](values) for key, values in groups.items()}


def legend(template: str | None, labels: Labels, expr: str) -> str:
    """A series' name as Grafana writes it: `legendFormat` with `{{label}}` filled in
    (a label it lacks: empty), else the series' labels (`{a="b"}`), else the expression."""
    have = dict(labels)
    if template:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: have.get(m.group(1), ""), template)
    if have:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
    return expr
