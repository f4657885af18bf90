"""What a new user meets in a fresh clone: no runtime file is tracked (the work locks a SQLite
relay keeps beside its database), and git ignores those the relay makes; every image build
argument the Containerfile reads has a default, so no build warns about one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from receiver.kernel.store.sqlite.worklock import WorkLock

ROOT = Path(__file__).parents[2]
STORE = ROOT / "receiver" / "kernel" / "store" / "sqlite" / "store.py"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist, an image)")
    listed = _git("ls-files", "-z")
    assert listed.returncode == 0, listed.stderr
    return [name for name in listed.stdout.split("\0") if name]


def _lock_names(database: str) -> list[str]:
    """The lock files a SQLite relay holds beside `database`: one per kind of work, as the
    store names them."""
    works = re.findall(r'WorkLock\(path, "([a-z]+)"', STORE.read_text())
    assert {"serve", "deliveries"} <= set(works)
    return [WorkLock(database, work, "").path for work in works]


def test_no_work_lock_is_tracked(tracked: list[str]) -> None:
    locks = [name for name in tracked if name.endswith(".lock")]
    # The Node packages' lock files pin the tests' SDKs: those are meant to be tracked.
    assert all(name.endswith("package-lock.json") for name in locks), locks


@pytest.mark.parametrize("database", ["runway-relay.db", "data/relay.sqlite3", "relay"])
def test_git_ignores_the_locks_a_relay_makes(tracked: list[str], database: str) -> None:
    names = _lock_names(database)
    ignored = _git("check-ignore", "--no-index", *names)
    assert sorted(ignored.stdout.split()) == sorted(names), ignored.stdout + ignored.stderr


def test_every_build_argument_has_a_default() -> None:
    """Podman and Docker warn on each build about an `ARG` with no default that the build
    was not given (`missing "PIP_INDEX_URL" build argument`)."""
    text = (ROOT / "Containerfile").read_text()
    args = re.findall(r"^ARG\s+(\S+)", text, flags=re.MULTILINE)
    assert any(a.startswith("PIP_INDEX_URL") for a in args)
    assert [a for a in args if "=" not in a] == []


def _shell_lines(markdown: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_compose_works_with_the_podman_compose_debian_ships() -> None:
    """Debian 12's Podman 4.3 has no `podman compose`; its podman-compose 1.0.3 hands a
    health check's test to `sh -c` (a `CMD` list comes out misquoted) and ignores
    `disable: true`, `stop_grace_period` and health conditions."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        if check is None:
            continue
        assert "disable" not in check, name
        test = check["test"]
        assert test == ["NONE"] or (test[0] == "CMD-SHELL" and len(test) == 2), (name, test)
    operations = (ROOT / "docs" / "operations.md").read_text()
    said = "\n".join(
        [*_shell_lines(operations), (ROOT / "compose.yaml").read_text().split("\nname:")[0]]
    )
    assert "podman compose up" not in said and "podman compose down" not in said
    assert "podman-compose up -d --build" in said and "podman-compose down -t 30" in said
    assert "apt install podman-compose" in operations


def test_the_image_figures_are_the_build_scripts_output() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    [quoted] = re.findall(r"```text\n(figures of deploy/build-here\.sh.*?)```", operations, re.S)
    script = (ROOT / "deploy" / "build-here.sh").read_text()
    for line in quoted.splitlines()[1:]:
        label = line.split(":")[0].split()[0]  # the image's tag is the script's variable
        assert f'echo "  {label}' in script, label
    image_mb = re.search(r"podman image inspect\): (\d+)MB", quoted)
    assert image_mb is not None and f"the image is **{image_mb[1]} MB**" in operations
    assert "podman build warnings:      0" in quoted
