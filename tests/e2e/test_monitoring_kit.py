"""The operator's kit in deploy/monitoring/ (Prometheus alert rules, a Grafana dashboard)
asks only for what a running relay exports: one relay is driven through a 429 from
CometAPI, a failed poll, a downstream that answers and one that never does (its deliveries
go dead), then every expression of the rules and of the dashboard is parsed and each
metric, label and matched value it names is looked for in that relay's /metrics
(tests/promql.py). What an annotation says of `$labels` must be on the alert's series."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Simulator, Sink, metric, settled, video2video, wait_for
from tests.promql import Exported, checked, exported
from tests.testkit import free_port

MONITORING = Path(__file__).parents[2] / "deploy" / "monitoring"
# What Grafana puts in an expression before Prometheus sees it: its rate window, and a
# multi-value variable's "All" (the dashboard's allValue).
GRAFANA = {"$__rate_interval": "5m", "$downstream": ".*"}
_LABEL_VALUES = re.compile(r"label_values\((\w+),\s*(\w+)\)")


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for each panel's target and each variable's query."""
    board = json.loads((MONITORING / "dashboard.json").read_text())
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA.items():
                expr = expr.replace(variable, value)
            found.append((f"panel {panel['title']!r}", expr))
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = _LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert query is not None, variable["query"]
            name, label = query.groups()
            found.append((f"variable {variable['name']}", f"group by ({label}) ({name})"))
    assert not [e for _, e in found if "$" in e], "a Grafana variable left unreplaced"
    return found


def _driven(relay: Relay, sim: Simulator) -> Exported:
    """Every series the kit reads, made: a task sent once against a 429, polled once
    against a 503, called back, its render copied, delivered to one downstream, filtered
    out by another and dead-lettered at the third."""
    sim.faults(submit_status=429, submit_status_count=1, poll_status=503, poll_status_count=1)
    answer = relay.submit(**video2video())
    assert answer.status_code == 202, answer.text
    relay.wait_task(answer.json()["id"], settled)
    wanted = [
        ("relay_submit_attempts_total", {"outcome": "retry"}),
        ("relay_submit_attempts_total", {"outcome": "accepted"}),
        ("relay_polls_total", {"outcome": "error"}),
        ("relay_polls_total", {"outcome": "observed"}),
        ("relay_deliveries_total", {"downstream": "hook", "outcome": "succeeded"}),
        ("relay_deliveries_total", {"downstream": "broken", "outcome": "retry"}),
        ("relay_deliveries_total", {"downstream": "broken", "outcome": "dead"}),
        ("relay_deliveries_filtered_total", {"downstream": "picky", "failed": "false"}),
        ("relay_callbacks_total", {"outcome": "confirmed"}),
        ("relay_media_files_total", {"outcome": "mirrored"}),
        ("relay_outbox", {"state": "dead"}),
    ]

    def made() -> str | None:
        text = relay.scrape()
        return text if all(metric(text, name, **labels) for name, labels in wanted) else None

    return exported(wait_for(made))


def test_rules_and_dashboard_read_what_a_running_relay_exports(
    make_relay: MakeRelay, sink: Sink, sim: Simulator, tmp_path: Path
) -> None:
    broken = {**webhook(sink, "broken"), "url": f"http://127.0.0.1:{free_port()}/hook"}
    picky = webhook(sink, "picky", filter='event.data.state == "never"')
    media = {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_networks": True}
    relay = make_relay([webhook(sink, "hook"), broken, picky], media=media)
    series = _driven(relay, sim)

    said = []
    for rule in alert_rules():
        result, problems = checked(rule["expr"], series)
        said += [f"alert {rule['alert']}: {problem}" for problem in problems]
        # An annotation or label names only labels the alert's series carry.
        texts = [*rule.get("annotations", {}).values(), *rule.get("labels", {}).values()]
        for label in sorted({m for t in texts for m in re.findall(r"\$labels\.(\w+)", t)}):
            if label not in result:
                said.append(f"alert {rule['alert']}: $labels.{label} is not on its series")
    for where, expr in dashboard_queries():
        said += [f"{where}: {problem}" for problem in checked(expr, series)[1]]
    assert not said, "\n".join(said)


def test_each_alert_says_what_and_how_bad() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
