"""The Helm chart, deploy/helm/runway-relay, linted and rendered in this process by Helm's own
SDK (helm-python-sdk bundles it: no helm binary, no cluster), each rendered manifest checked
strictly against a current Kubernetes release's schemas as deploy/kubernetes/ is: one
replica on SQLite with its volume by default, several on PostgreSQL with deliver workers,
several on SQLite (or a typo in the values) refused in words, the secrets from an existing
Secret or from values, the ServiceMonitor and NetworkPolicy only when asked for, and the
manifests' pod security."""

from __future__ import annotations

import base64
import importlib
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import kubernetes_validate
import pytest
import yaml

from receiver.config.environ import PREFIX, places
from receiver.config.load import load

if TYPE_CHECKING:
    import helm_python as helm

ROOT = Path(__file__).parents[2]
CHART = ROOT / "deploy" / "helm" / "runway-relay"
KUBERNETES = ROOT / "deploy" / "kubernetes"
POSTGRES = {"enabled": True, "url": "postgresql://relay@postgres:5432/relay?sslmode=prefer"}
REPLICAS_ON_POSTGRES = {"replicaCount": 3, "postgresql": POSTGRES}
RULE_LABELS = {"release": "kube-prometheus-stack"}  # what an operator's ruleSelector picks
WITH_ALERT_RULES = {
    "metrics": {"enabled": True, "prometheusRule": {"enabled": True, "labels": RULE_LABELS}}
}
MARGIN_SECONDS = 5  # uvicorn's graceful shutdown is the deliveries' grace plus this

Manifests = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def sdk() -> ModuleType:
    """Helm's SDK, loaded by the tests that use it: a Go runtime (53 MB, five threads) that
    no other test's process needs."""
    return importlib.import_module("helm_python")


@pytest.fixture(scope="module")
def chart(sdk: ModuleType) -> Iterator[helm.Chart]:
    with sdk.Chart.load(CHART) as loaded:
        yield loaded


def _render(chart: helm.Chart, values: dict[str, Any] | None = None) -> Manifests:
    """Every object the chart makes with these values, by kind and component (or name)."""
    rendered = chart.render(values, name="relay", namespace="relay", is_install=True)
    found: Manifests = {}
    for template, text in rendered.items():
        if template.endswith(".txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                labels = doc["metadata"].get("labels", {})
                part = labels.get("app.kubernetes.io/component", doc["metadata"]["name"])
                found[doc["kind"], part] = doc
    return found


def _validate(manifests: Manifests) -> None:
    version = kubernetes_validate.latest_version()
    for doc in manifests.values():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def _pod(manifests: Manifests, component: str) -> dict[str, Any]:
    spec: dict[str, Any] = manifests["Deployment", component]["spec"]["template"]["spec"]
    return spec


def _settings(manifests: Manifests) -> dict[str, str]:
    [config] = [doc for (kind, _), doc in manifests.items() if kind == "ConfigMap"]
    data: dict[str, str] = config["data"]
    unknown = [name for name in data if name.startswith(PREFIX) and name not in places()]
    assert not unknown, f"variables naming no config key: {unknown}"
    return data


def test_chart_runs_this_release() -> None:
    metadata = yaml.safe_load((CHART / "Chart.yaml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert metadata["appVersion"] == version  # the image tag it runs by default


def test_chart_is_clean_under_strict_lint(sdk: ModuleType) -> None:
    for values in (None, REPLICAS_ON_POSTGRES, WITH_ALERT_RULES):
        report = sdk.lint(CHART, values, strict=True)
        assert report["errors"] == [], report
        said = [(m["severity"], m["error"]) for m in report["messages"]]
        # An icon is only recommended (info, which --strict lets by): the relay has none.
        assert said in ([], [(1, "icon is recommended")]), said


def test_defaults_run_one_serve_on_sqlite_with_its_volume(chart: helm.Chart) -> None:
    manifests = _render(chart)
    _validate(manifests)
    kinds = {kind for kind, _ in manifests}
    assert kinds == {"ConfigMap", "Secret", "Deployment", "Service", "PersistentVolumeClaim"}
    assert ("Deployment", "deliver") not in manifests  # the fan-out runs inside serve
    settings = _settings(manifests)
    assert settings["RECEIVER__STORAGE__URL"] == "sqlite:////data/relay.db"
    assert settings["RECEIVER__DELIVERY__IN_PROCESS"] == "true"
    serve = manifests["Deployment", "serve"]
    assert serve["spec"]["replicas"] == 1
    # The old pod lets go of the file and the volume before the new one opens them.
    assert serve["spec"]["strategy"] == {"type": "Recreate"}
    pod = serve["spec"]["template"]["spec"]
    [claim] = [doc for (kind, _), doc in manifests.items() if kind == "PersistentVolumeClaim"]
    [data] = [v for v in pod["volumes"] if v["name"] == "data"]
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    [container] = pod["containers"]
    assert container["args"] == ["receiver", "serve"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    readiness = container["readinessProbe"]
    drain = float(settings["RECEIVER__SERVER__DRAIN_SECONDS"])
    grace = float(settings["RECEIVER__ADVANCED__DELIVERY__SHUTDOWN_GRACE_SECONDS"])
    assert drain >= readiness["periodSeconds"] * readiness["failureThreshold"]
    assert pod["terminationGracePeriodSeconds"] > drain + grace + MARGIN_SECONDS
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_three_replicas_on_postgresql_with_deliver_workers(chart: helm.Chart) -> None:
    manifests = _render(chart, REPLICAS_ON_POSTGRES)
    _validate(manifests)
    assert not [kind for kind, _ in manifests if kind == "PersistentVolumeClaim"]
    settings = _settings(manifests)
    assert settings["RECEIVER__STORAGE__URL"] == POSTGRES["url"]
    assert settings["RECEIVER__DELIVERY__IN_PROCESS"] == "false"
    serve = manifests["Deployment", "serve"]
    assert serve["spec"]["replicas"] == 3
    assert serve["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    [data] = [v for v in _pod(manifests, "serve")["volumes"] if v["name"] == "data"]
    assert data == {"name": "data", "emptyDir": {}}
    deliver = _pod(manifests, "deliver")
    [worker] = deliver["containers"]
    assert worker["args"] == ["receiver", "deliver"]
    grace = float(settings["RECEIVER__ADVANCED__DELIVERY__SHUTDOWN_GRACE_SECONDS"])
    assert deliver["terminationGracePeriodSeconds"] > grace
    budget = manifests["PodDisruptionBudget", "serve"]["spec"]
    assert budget["minAvailable"] == 1
    assert budget["selector"] == serve["spec"]["selector"]


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (
            {"replicaCount": 3},
            "replicaCount is 3, but SQLite serves one process per database file: "
            "set postgresql.enabled=true and postgresql.url for several replicas",
        ),
        ({"postgresql": {"enabled": True}}, "postgresql.enabled is true but postgresql.url"),
        (
            {"relay": {"drainSeconds": 30}},
            "serve.terminationGracePeriodSeconds must exceed relay.drainSeconds",
        ),
        ({"relay": {"drainSeconds": 2}}, "relay.drainSeconds must be at least the readiness"),
        (
            {**REPLICAS_ON_POSTGRES, "deliver": {"terminationGracePeriodSeconds": 10}},
            "deliver.terminationGracePeriodSeconds must exceed relay.shutdownGraceSeconds",
        ),
        ({"metrics": {"serviceMonitor": {"enabled": True}}}, "needs metrics.enabled"),
        (
            {"metrics": {"prometheusRule": {"enabled": True}}},
            "metrics.prometheusRule.enabled needs metrics.enabled",
        ),
        (
            {"metrics": {"enabled": True, "port": 8080}, "service": {"port": 8080}},
            "metrics.port and service.port are both 8080",
        ),
        # values.schema.json: a typo is refused, not ignored.
        ({"replicas": 3}, "additional properties 'replicas' not allowed"),
        ({"postgresql": {"enabled": True, "url": "mysql://db/relay"}}, "does not match pattern"),
        ({"relay": {"settings": {"LOG_LEVEL": "debug"}}}, "'LOG_LEVEL' does not match"),
    ],
)
def test_chart_refuses_what_cannot_run_in_words(
    sdk: ModuleType, chart: helm.Chart, values: dict[str, Any], said: str
) -> None:
    with pytest.raises(sdk.HelmError) as refused:
        chart.render(values, name="relay", namespace="relay")
    assert said in str(refused.value)


def test_the_relay_starts_on_what_the_chart_gives_it(chart: helm.Chart) -> None:
    """The relay's own loader, on the ConfigMap and the Secret as the pods' environment
    (with what the image sets): no problem, and the topology the chart chose."""
    image = {"RECEIVER__SERVER__HOST": "0.0.0.0", "RECEIVER__MEDIA__DIR": "/data/media"}
    secrets = {"secrets": {"cometapiKey": "sk-test", "postgresPassword": "pw"}}
    for values, url, in_process in (
        (secrets, "sqlite:////data/relay.db", True),
        ({**REPLICAS_ON_POSTGRES, **secrets}, POSTGRES["url"], False),
    ):
        manifests = _render(chart, values)
        [secret] = [doc for (kind, _), doc in manifests.items() if kind == "Secret"]
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        settings = load(None, {**image, **_settings(manifests), **decoded}).settings
        assert (settings.storage.url, settings.delivery.in_process) == (url, in_process)
        assert str(settings.server.public_url) == "https://relay.example.com/"
        assert settings.server.trusted_proxies == ["10.0.0.0/8"]


def test_an_existing_secret_is_used_and_none_made(chart: helm.Chart) -> None:
    manifests = _render(chart, {**REPLICAS_ON_POSTGRES, "existingSecret": "relay-secrets"})
    assert not [kind for kind, _ in manifests if kind == "Secret"]
    for component in ("serve", "deliver"):
        [container] = _pod(manifests, component)["containers"]
        named = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
        assert named == ["relay-secrets"], component


def test_a_secret_is_made_from_values(chart: helm.Chart) -> None:
    given = {"cometapiKey": "sk-test", "signingSecret": "s" * 32, "extra": {"ORDERS": "whsec_x"}}
    manifests = _render(chart, {"secrets": given})
    [secret] = [doc for (kind, _), doc in manifests.items() if kind == "Secret"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["COMETAPI_KEY"] == "sk-test" and data["RECEIVER_SECRET"] == "s" * 32
    assert data["ORDERS"] == "whsec_x" and "PGPASSWORD" not in data
    # An admin token left empty is made, long enough for the relay's 16-character floor.
    assert len(data["RECEIVER_ADMIN_TOKEN"]) >= 32
    [container] = _pod(manifests, "serve")["containers"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in container["envFrom"]


def test_service_monitor_and_network_policy_only_when_enabled(chart: helm.Chart) -> None:
    plain = _render(chart, REPLICAS_ON_POSTGRES)
    assert not {"ServiceMonitor", "NetworkPolicy"} & {kind for kind, _ in plain}
    assert [p["name"] for p in plain["Service", "serve"]["spec"]["ports"]] == ["http"]
    metrics = {"enabled": True, "port": 9464, "serviceMonitor": {"enabled": True}}
    policy = {"enabled": True, "ingressFrom": [{"namespaceSelector": {"matchLabels": {"a": "b"}}}]}
    manifests = _render(
        chart, {**REPLICAS_ON_POSTGRES, "metrics": metrics, "networkPolicy": policy}
    )
    # The ServiceMonitor is the Prometheus operator's kind, for which no schema ships.
    monitor = manifests.pop(("ServiceMonitor", "relay-runway-relay"))
    _validate(manifests)
    service = manifests["Service", "serve"]
    [port] = [p for p in service["spec"]["ports"] if p["name"] == "metrics"]
    assert port["port"] == port["targetPort"] == 9464
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    # Off loopback the relay asks for a token: the chart makes it and the monitor sends it.
    config = manifests["ConfigMap", "relay-runway-relay"]["data"]
    assert config["RECEIVER__SERVER__METRICS_LISTEN"] == "0.0.0.0:9464"
    assert config["RECEIVER__SERVER__METRICS_TOKEN_ENV"] == "RECEIVER_METRICS_TOKEN"
    secret = manifests["Secret", "relay-runway-relay"]
    assert len(base64.b64decode(secret["data"]["RECEIVER_METRICS_TOKEN"])) >= 32
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["authorization"]["credentials"] == {
        "name": "relay-runway-relay",
        "key": "RECEIVER_METRICS_TOKEN",
    }
    assert (
        "RECEIVER__SERVER__METRICS_TOKEN_ENV"
        not in plain["ConfigMap", "relay-runway-relay"]["data"]
    )
    # The monitor scrapes serve's Service and the deliver workers' (headless: metrics only).
    selector = monitor["spec"]["selector"]
    assert {
        **selector["matchLabels"],
        "app.kubernetes.io/component": "serve",
    } == service["spec"]["selector"]
    assert selector["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["serve", "deliver"]}
    ]
    workers = manifests["Service", "deliver"]["spec"]
    assert workers["clusterIP"] == "None" and [p["name"] for p in workers["ports"]] == ["metrics"]
    [container] = _pod(manifests, "serve")["containers"]
    assert {"name": "metrics", "containerPort": 9464} in container["ports"]
    [worker] = _pod(manifests, "deliver")["containers"]
    assert worker["args"] == ["receiver", "deliver", "--metrics"]
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9464}]
    serve_policy = manifests["NetworkPolicy", "serve"]["spec"]
    assert serve_policy["podSelector"]["matchLabels"] == service["spec"]["selector"]
    # No metricsFrom: the metrics port is open to no one; deliver takes no ingress at all.
    assert [rule["ports"] for rule in serve_policy["ingress"]] == [[{"port": "http"}]]
    deliver_policy = manifests["NetworkPolicy", "deliver"]["spec"]
    assert (
        deliver_policy["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deliver_policy
    )
    # Prometheus named: it alone reaches the metrics port, of serve and of deliver.
    prometheus = [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]
    scraped = {**policy, "metricsFrom": prometheus}
    manifests = _render(
        chart, {**REPLICAS_ON_POSTGRES, "metrics": metrics, "networkPolicy": scraped}
    )
    for component in ("serve", "deliver"):
        rules = manifests["NetworkPolicy", component]["spec"]["ingress"]
        assert {"ports": [{"port": 9464}], "from": prometheus} in rules, component
        assert all("from" in rule for rule in rules if rule["ports"] != [{"port": "http"}])


def test_the_alert_rules_are_installed_as_a_prometheus_rule_when_asked(
    chart: helm.Chart,
) -> None:
    assert not [
        kind for kind, _ in _render(chart, REPLICAS_ON_POSTGRES) if kind == "PrometheusRule"
    ]
    manifests = _render(chart, {**REPLICAS_ON_POSTGRES, **WITH_ALERT_RULES})
    # The Prometheus operator's kind, for which no schema ships: its rules are the file's.
    rule = manifests.pop(("PrometheusRule", "relay-runway-relay"))
    _validate(manifests)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert RULE_LABELS.items() <= rule["metadata"]["labels"].items()
    # The file as it is: Helm's templating leaves Prometheus's ({{ $labels.downstream }}).
    kit = yaml.safe_load((ROOT / "deploy" / "monitoring" / "alerts.yaml").read_text())
    assert rule["spec"] == kit


def test_the_notes_say_how_to_build_and_push_the_image(chart: helm.Chart) -> None:
    rendered = chart.render(REPLICAS_ON_POSTGRES, name="relay", namespace="relay", is_install=True)
    [notes] = [text for template, text in rendered.items() if template.endswith("NOTES.txt")]
    assert "deploy/build-here.sh" in notes and "image.repository" in notes
    own = {**REPLICAS_ON_POSTGRES, "image": {"repository": "registry.example.com/t/relay"}}
    rendered = chart.render(own, name="relay", namespace="relay", is_install=True)
    [notes] = [text for template, text in rendered.items() if template.endswith("NOTES.txt")]
    assert "deploy/build-here.sh" not in notes
    pod = _pod(_render(chart, own), "serve")
    assert pod["containers"][0]["image"].startswith("registry.example.com/t/relay:")


LINK_LOCAL = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"]
NODE_LOCAL_DNS = {"to": [{"ipBlock": {"cidr": "169.254.20.10/32"}}], "ports": [{"port": 53}]}


def _blocked(rules: list[dict[str, Any]]) -> list[str]:
    """The addresses the rules' every-address blocks leave out."""
    blocks = [peer["ipBlock"] for rule in rules for peer in rule.get("to", [])]
    return [
        cidr
        for block in blocks
        if block["cidr"] in ("0.0.0.0/0", "::/0")
        for cidr in block.get("except", [])
    ]


def test_the_network_policy_keeps_pods_from_link_local_addresses(chart: helm.Chart) -> None:
    # A cloud's metadata endpoint (169.254.169.254, fd00:ec2::254) hands out node credentials.
    policy: dict[str, Any] = {"enabled": True}
    manifests = _render(chart, {**REPLICAS_ON_POSTGRES, "networkPolicy": policy})
    _validate(manifests)
    for component in ("serve", "deliver"):
        spec = manifests["NetworkPolicy", component]["spec"]
        assert "Egress" in spec["policyTypes"], component
        [rule] = spec["egress"]
        assert "ports" not in rule and sorted(_blocked([rule])) == sorted(LINK_LOCAL), component
    # What a deployment needs there is opened beside the default; `egress` replaces it.
    opened = {**policy, "egressAllowed": [NODE_LOCAL_DNS]}
    manifests = _render(chart, {**REPLICAS_ON_POSTGRES, "networkPolicy": opened})
    _validate(manifests)
    rules = manifests["NetworkPolicy", "deliver"]["spec"]["egress"]
    assert rules[1:] == [NODE_LOCAL_DNS] and sorted(_blocked(rules)) == sorted(LINK_LOCAL)
    only = {**policy, "egress": [NODE_LOCAL_DNS]}
    manifests = _render(chart, {**REPLICAS_ON_POSTGRES, "networkPolicy": only})
    assert manifests["NetworkPolicy", "serve"]["spec"]["egress"] == [NODE_LOCAL_DNS]


def test_pods_run_as_the_manifests_do(chart: helm.Chart) -> None:
    manifests = _render(chart, REPLICAS_ON_POSTGRES)
    for component, path in (("serve", "serve.yaml"), ("deliver", "deliver.yaml")):
        expected = yaml.safe_load((KUBERNETES / path).read_text())["spec"]["template"]["spec"]
        pod = _pod(manifests, component)
        assert pod["securityContext"] == expected["securityContext"], component
        assert pod["automountServiceAccountToken"] is False
        [container], [manifest] = pod["containers"], expected["containers"]
        assert container["securityContext"] == manifest["securityContext"], component
        assert container["resources"] == manifest["resources"], component


def _value_paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key a user sets, down to a table that is given whole (resources, a security
    context, a probe's timing) or is free-form (empty by default)."""
    whole = {"resources", "podSecurityContext", "securityContext", "probes"}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in whole:
            yield from _value_paths(value, f"{path}.")
        elif key == "probes":
            yield from (f"{path}.{name}" for name in value)
        else:
            yield path


def test_every_value_is_in_the_operations_table(chart: helm.Chart) -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    section = operations.split("\n### Helm\n", 1)[1].split("\n### ", 1)[0]
    keys = [row.split(" | ")[0] for row in section.splitlines() if row.startswith("| `")]
    missing = []
    for path in _value_paths(chart.values):
        parent, _, last = path.rpartition(".")
        said = any(
            f"`{path}`" in cell or (f"`{parent}." in cell and f"`.{last}`" in cell) for cell in keys
        )
        if not said:
            missing.append(path)
    assert not missing, f"values not in docs/operations.md's table: {missing}"
