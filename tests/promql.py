"""What a PromQL expression asks of the series it reads, checked against what a relay exports.

promql-parser (Prometheus's grammar, in Rust) builds the tree; this walks it and follows the
labels each node's result carries, as Prometheus computes them: a selector has its metric's
labels and the scrape's target labels, `sum by (l)` keeps `l`, `sum without (l)` drops it,
a one-to-one match `on (l)` keeps `l`, `group_left (l)` adds `l` from the right side,
`histogram_quantile` drops `le`. A problem is a metric that is not exported, a label a
matcher, `by`/`without` or `on`/`ignoring`/`group_*` names that its operand does not carry
at that point, or a value matched for equality (or a regex alternative) that no series has.
Functions not listed keep their first vector argument's labels, as the range and math
functions do.
"""

from __future__ import annotations

import re

import promql_parser as promql
from prometheus_client.parser import text_string_to_metric_families

# Metric (sample name: `_total`, `_bucket`, ...) -> label -> the values seen.
Exported = dict[str, dict[str, set[str]]]
# Prometheus adds these to every series it scrapes, and makes `up` for each target.
TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_OWN = ("up",)
# Functions whose result has no label of their argument's.
_LABELLESS = frozenset({"vector", "time", "absent", "absent_over_time", "scalar"})
# An alternation of plain values: each one is checked, not only the pattern as a whole.
_ALTERNATIVES = re.compile(r"[\w./-]+(\|[\w./-]+)*")

Labels = frozenset[str] | None  # None: a scalar, which has no labels


def exported(text: str) -> Exported:
    """The series of a /metrics text, with Prometheus's own `up`."""
    found: Exported = {name: {} for name in PROMETHEUS_OWN}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = found.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
    return found


def problems(expr: str, series: Exported) -> list[str]:
    """What `expr` names that `series` lacks (empty: nothing). A parse error raises."""
    return checked(expr, series)[1]


def checked(expr: str, series: Exported) -> tuple[frozenset[str], list[str]]:
    """The labels `expr`'s result carries, and what it names that `series` lacks."""
    said: list[str] = []
    result = _Check(series, said).labels(promql.parse(expr))
    return result or frozenset(), said


class _Check:
    def __init__(self, series: Exported, said: list[str]) -> None:
        self.series = series
        self.said = said

    def labels(self, node: object) -> Labels:
        if isinstance(node, promql.VectorSelector):
            return self.selector(node)
        if isinstance(node, promql.MatrixSelector):
            return self.selector(node.vector_selector)
        if isinstance(node, promql.SubqueryExpr | promql.ParenExpr | promql.UnaryExpr):
            return self.labels(node.expr)
        if isinstance(node, promql.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, promql.BinaryExpr):
            return self.binary(node)
        if isinstance(node, promql.Call):
            return self.call(node)
        return None  # a number or a string

    def selector(self, node: promql.VectorSelector) -> Labels:
        matchers = [*node.matchers.matchers, *(m for g in node.matchers.or_matchers for m in g)]
        names = [m.value for m in matchers if m.name == "__name__" and m.op == promql.MatchOp.Equal]
        metric = node.name or (names[0] if names else None)
        if metric is None:
            self.said.append(f"{node}: no metric named")
            return TARGET_LABELS
        if metric not in self.series:
            self.said.append(f"{metric}: not exported")
            return TARGET_LABELS
        have = self.series[metric]
        for m in matchers:
            if m.name == "__name__" or m.name in TARGET_LABELS:
                continue
            if m.name not in have:
                self.said.append(f"{metric}: no label {m.name}")
            elif m.op in (promql.MatchOp.Equal, promql.MatchOp.Re):
                self.values(metric, m.name, m.op == promql.MatchOp.Re, m.value)
        return frozenset(have) | TARGET_LABELS

    def values(self, metric: str, label: str, regex: bool, value: str) -> None:
        seen = self.series[metric][label]
        if not regex or _ALTERNATIVES.fullmatch(value):
            unseen = sorted(set(value.split("|") if regex else [value]) - seen)
            if unseen:
                self.said.append(f"{metric}: no {label} {unseen} (seen: {sorted(seen)})")
        elif not any(re.fullmatch(value, v) for v in seen):
            self.said.append(f"{metric}: no {label} matches {value!r} (seen: {sorted(seen)})")

    def carried(self, where: str, wanted: list[str], have: Labels) -> None:
        missing = sorted(set(wanted) - (have or frozenset()))
        if missing:
            self.said.append(f"{where} names {missing}, which its operand does not carry")

    def aggregate(self, node: promql.AggregateExpr) -> Labels:
        inner = self.labels(node.expr)
        if node.param is not None:
            self.labels(node.param)
        op = str(node.op)
        if op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner  # a choice of series, each with its labels
        modifier = node.modifier
        if modifier is None:
            return frozenset()
        by = modifier.type == promql.AggModifierType.By
        self.carried(f"{op} {'by' if by else 'without'}", modifier.labels, inner)
        if by:
            return frozenset(modifier.labels)
        return (inner or frozenset()) - set(modifier.labels)

    def binary(self, node: promql.BinaryExpr) -> Labels:
        lhs, rhs = self.labels(node.lhs), self.labels(node.rhs)
        if lhs is None or rhs is None:
            return rhs if lhs is None else lhs  # with a scalar: the vector's labels
        op, modifier = str(node.op), node.modifier
        matching = modifier.matching if modifier is not None else None
        on = matching is not None and matching.type == promql.LabelModifierType.Include
        if matching is not None and on:
            self.carried(f"{op} on (left)", matching.labels, lhs)
            self.carried(f"{op} on (right)", matching.labels, rhs)
        elif matching is not None:
            self.carried(f"{op} ignoring", matching.labels, lhs | rhs)
        if op == "or":
            return lhs | rhs
        if op in ("and", "unless"):
            return lhs
        card = modifier.card if modifier is not None else None
        group = (modifier.group_labels or []) if modifier is not None else []
        if card == promql.VectorMatchCardinality.ManyToOne:
            self.carried(f"{op} group_left", group, rhs)
            return lhs | set(group)
        if card == promql.VectorMatchCardinality.OneToMany:
            self.carried(f"{op} group_right", group, lhs)
            return rhs | set(group)
        if matching is None:
            return lhs
        return frozenset(matching.labels) if on else lhs - set(matching.labels)

    def call(self, node: promql.Call) -> Labels:
        args = [self.labels(arg) for arg in node.args]
        name = node.func.name
        if name in _LABELLESS:
            return frozenset() if name != "scalar" else None
        if name == "histogram_quantile":
            self.carried("histogram_quantile", ["le"], args[1])
            return (args[1] or frozenset()) - {"le"}
        if name == "label_replace":
            return (args[0] or frozenset()) | {str(node.args[1]).strip('"')}
        return next((found for found in args if found is not None), None)
