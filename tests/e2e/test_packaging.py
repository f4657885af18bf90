"""The distribution is whole: `python -m build` makes a wheel and an sdist, each holding every
file of the package that is not Python (the console's templates and static files, the
migrations, the simulator's media); the wheel, built from the sdist, installs into a fresh
virtualenv, at the versions of constraints.txt, where `receiver demo` passes. Slow (a build
and an install),
so it runs in the end-to-end step.

Offline: the build's isolated environment and both installs take their wheels from the
wheelhouse `.ci/wheelhouse` fills once (the build backend and the core dependencies, at
constraints.txt's versions; .ci/run does it), with `--no-index`, and read no pip
configuration of the machine: no package index is reached."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# One worker builds once: two builds at a time in one source tree share its build/ folder.
pytestmark = pytest.mark.xdist_group("packaging")
WHEELHOUSE = Path(os.environ.get("RELAY_WHEELHOUSE") or ROOT / "build" / "wheelhouse")


@pytest.fixture(scope="module")
def offline() -> dict[str, str]:
    """The environment of every build and pip run here: the wheelhouse and nothing else (no
    index, none of the machine's pip files or PIP_ variables)."""
    if not (WHEELHOUSE / ".wanted").is_file():
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: run .ci/wheelhouse once (.ci/run does)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {
        **env,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def _package_data() -> set[str]:
    """Every file under receiver/ that is not Python source: what package data must carry."""
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / "receiver").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory, offline: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy of what a release holds, as from a clean checkout: the other tests'
    # relays write byte code and store files into the working tree while this one builds.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    skipped = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "receiver", source / "receiver", ignore=skipped)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        env=offline,
    )
    assert built.returncode == 0, (
        f"the build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    )
    return out


def test_wheel_and_sdist_carry_every_file(dist: Path) -> None:
    expected = _package_data()
    assert any(p.endswith(".sql") for p in expected) and any("templates" in p for p in expected)
    [wheel] = dist.glob("runway_relay-*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert not expected - in_wheel, f"missing from the wheel: {sorted(expected - in_wheel)}"
    [sdist] = dist.glob("runway_relay-*.tar.gz")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert not expected - in_sdist, f"missing from the sdist: {sorted(expected - in_sdist)}"


# The wheel alone: `python -m build` made it from the sdist, so the sdist builds; a second
# install of the same files from it cost CI 200 s.
@pytest.mark.timeout(900)
def test_a_fresh_venv_runs_the_demo(dist: Path, tmp_path: Path, offline: dict[str, str]) -> None:
    [artefact] = dist.glob("runway_relay-*.whl")
    venv = tmp_path / "venv"
    # A venv without pip of its own, filled by this interpreter's pip (`--python`), and no
    # byte code compiled ahead: the installed relay compiles what it imports as it runs.
    # Both only save the CPU of work the test does not look at.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    constraints = ROOT / "constraints.txt"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-compile"]
    installed = subprocess.run(
        [*pip, "--quiet", "--no-index", "-c", constraints, artefact],
        capture_output=True,
        text=True,
        timeout=600,
        env=offline,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    # Run outside the source tree, so only the installed package can be imported.
    demo = subprocess.run(
        [venv / "bin" / "receiver", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo passed" in demo.stdout
    files = subprocess.run(
        [
            python,
            "-c",
            "import receiver, pathlib; root = pathlib.Path(receiver.__file__).parents[1];"
            " print('\\n'.join(str(p.relative_to(root)) for p in (root / 'receiver').rglob('*')"
            " if p.is_file()))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    missing = _package_data() - set(files)
    assert not missing, f"not installed: {sorted(missing)}"
