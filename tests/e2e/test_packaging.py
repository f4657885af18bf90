"""The distribution is whole: `python -m build` makes a wheel and an sdist, each holding every
file of the package that is not Python (the console's templates and static files, the
migrations, the simulator's media), and each installs into a fresh virtualenv, at the
versions of constraints.txt, where `receiver demo` passes. Slow (a build and two installs),
so it runs in the end-to-end step."""

from __future__ import annotations

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


def _package_data() -> set[str]:
    """Every file under receiver/ that is not Python source: what package data must carry."""
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / "receiver").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy of what a release holds, as from a clean checkout: the other tests'
    # relays write byte code and store files into the working tree while this one builds.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    skipped = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "receiver", source / "receiver", ignore=skipped)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
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


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["whl", "tar.gz"])
def test_a_fresh_venv_runs_the_demo(dist: Path, tmp_path: Path, kind: str) -> None:
    [artefact] = dist.glob(f"runway_relay-*.{kind}")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", artefact],
        check=True,
        capture_output=True,
        timeout=600,
    )
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
