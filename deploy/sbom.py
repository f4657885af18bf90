"""A CycloneDX SBOM (JSON, spec 1.6) of a Python environment: every distribution installed
there, with its version and package URL, by cyclonedx-bom's `cyclonedx-py environment`; with
`--pyproject`, the relay is the document's subject (metadata.component).

deploy/build-here.sh runs it in a throwaway stage on the image's virtualenv, as slim_venv.py
left it, and writes the result into the image (/usr/share/runway-relay/sbom.cdx.json) and
beside it; tests/e2e/test_sbom.py runs it on the virtualenv the tests run in. The Python
that runs this script needs cyclonedx-bom (the dev extra has it); the environment described
does not.

    python deploy/sbom.py write /opt/relay sbom.cdx.json --pyproject pyproject.toml
    python deploy/sbom.py check sbom.cdx.json /opt/relay/lib/python3.11/site-packages

The environment is a virtualenv's directory or a Python interpreter: its `sys.path` is
where the distributions are looked for. The output is reproducible (no serial number, no
timestamp unless SOURCE_DATE_EPOCH sets one): the same environment gives the same file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path
from typing import Any


class SbomFailed(RuntimeError):
    pass


def write(
    environment: Path, out: Path, pyproject: Path | None = None, validate: bool = True
) -> dict[str, Any]:
    """Write the SBOM of `environment` to `out`, and return it. `validate`: against
    CycloneDX's schema, which takes half a minute for 200 distributions (its URL checks)."""
    command = [sys.executable, "-m", "cyclonedx_py", "environment", "--sv", "1.6"]
    command += ["--of", "JSON", "--output-reproducible", "-o", str(out)]
    command += ["--validate" if validate else "--no-validate"]
    if pyproject is not None:
        command += ["--pyproject", str(pyproject), "--mc-type", "application"]
    made = subprocess.run(
        [*command, str(environment)], capture_output=True, text=True, timeout=300, check=False
    )
    if made.returncode != 0:
        raise SbomFailed(f"cyclonedx-py failed ({made.returncode}): {made.stderr.strip()}")
    bom: dict[str, Any] = json.loads(out.read_text())
    if not bom.get("components"):
        raise SbomFailed(f"no distribution found in {environment}")
    return bom


def named(bom: dict[str, Any]) -> dict[str, str]:
    """Each component's version by its normalized name (the subject's too)."""
    subject = bom.get("metadata", {}).get("component")
    components = [*bom["components"], *([subject] if subject else [])]
    return {normalized(c["name"]): c.get("version", "") for c in components}


def unlisted(bom: dict[str, Any], site: Path) -> list[str]:
    """The distributions installed in `site` (a site-packages folder) that the SBOM does
    not name at their version."""
    listed = named(bom)
    return sorted(
        f"{found.metadata['Name']} {found.version}"
        for found in distributions(path=[str(site)])
        if listed.get(normalized(found.metadata["Name"])) != found.version
    )


def normalized(name: str) -> str:
    """A distribution's name as packaging compares them (PEP 503)."""
    return "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    command = parser.add_subparsers(dest="command", required=True)
    write_it = command.add_parser("write", help="write the SBOM of an environment")
    write_it.add_argument("environment", type=Path, help="a virtualenv's directory or a python")
    write_it.add_argument("out", type=Path, help="where the SBOM is written (JSON)")
    write_it.add_argument("--pyproject", type=Path, help="the relay's pyproject.toml: the subject")
    check = command.add_parser("check", help="fail when a distribution of SITE is not named")
    check.add_argument("sbom", type=Path)
    check.add_argument("site", type=Path, help="a site-packages folder")
    args = parser.parse_args()
    if args.command == "check":
        bom = json.loads(args.sbom.read_text())
        missing = unlisted(bom, args.site)
        if missing:
            sys.exit(f"sbom: {args.sbom} does not name {', '.join(missing)}")
        print(f"{args.sbom}: names each of the {len(bom['components'])} distributions installed")
        return
    try:
        bom = write(args.environment, args.out, args.pyproject)
    except SbomFailed as exc:
        sys.exit(f"sbom: {exc}")
    print(f"{args.out}: {len(bom['components'])} components")


if __name__ == "__main__":
    main()
