"""deploy/sbom.py, the SBOM step of the image's build, on the virtualenv these tests run in:
the relay is the document's subject, and every distribution it imports at run time (every
module of the relay and each one it names imported, as deploy/slim_venv.py does in the
image, then `sys.modules` mapped to distributions) is a component with the version
installed and its package URL."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]
IMPORTED = """
import importlib.util, json, sys
from importlib.metadata import packages_distributions

spec = importlib.util.spec_from_file_location("slim_venv", sys.argv[1])
slim_venv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slim_venv)
broken = slim_venv.import_modules()
found = packages_distributions()
tops = {name.split(".")[0] for name in list(sys.modules)}
distributions = sorted({d for top in tops for d in found.get(top, [])})
print(json.dumps({"broken": broken, "distributions": distributions}))
"""


def _sbom_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sbom", ROOT / "deploy" / "sbom.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sbom_names_what_the_relay_imports_at_its_installed_version(tmp_path: Path) -> None:
    if importlib.util.find_spec("cyclonedx_py") is None:
        pytest.skip("cyclonedx-bom is not installed (the dev extra has it)")
    sbom = _sbom_script()
    out = tmp_path / "sbom.cdx.json"
    bom = sbom.write(Path(sys.prefix), out, ROOT / "pyproject.toml", validate=False)
    assert json.loads(out.read_text()) == bom and bom["specVersion"] == "1.6"
    subject = bom["metadata"]["component"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (subject["name"], subject["version"]) == (project["name"], project["version"])

    ran = subprocess.run(
        [sys.executable, "-c", IMPORTED, str(ROOT / "deploy" / "slim_venv.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    imported = json.loads(ran.stdout.splitlines()[-1])
    assert imported["broken"] == []
    assert len(imported["distributions"]) > 20, imported  # the core's and the extras'
    named = sbom.named(bom)
    purls = {c.get("purl", "") for c in bom["components"]}
    wrong = []
    for dist in imported["distributions"]:
        key, installed = sbom.normalized(dist), version(dist)
        if named.get(key) != installed:
            wrong.append(f"{dist} {installed}: the SBOM says {named.get(key)}")
        elif dist != project["name"] and f"pkg:pypi/{key}@{installed}" not in purls:
            wrong.append(f"{dist} {installed}: no package URL")
    assert not wrong, wrong
    # And every distribution installed there, imported or not.
    [site] = [Path(p) for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    assert sbom.unlisted(bom, site) == []
