"""A full disk under SQLite shows in /readyz, not only in the callbacks that get 503.

The store lives on a small tmpfs of the test's own; a filler file takes the space away and
gives it back. Skipped where the test may not mount a tmpfs (not root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures
from tests.harness import Simulator, video2video, wait_for

# A write the store cannot make, on each backend.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]
SIZE_MB = 24


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the disk-full test is skipped")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path, leave_bytes: int) -> None:
    free = shutil.disk_usage(path.parent).free
    with path.open("ab") as out:
        try:
            out.write(b"\0" * max(0, free - leave_bytes))
            out.flush()
            os.fsync(out.fileno())
        except OSError:
            pass  # full, which is the point


def test_readyz_reports_a_full_disk_and_recovers(
    make_relay: MakeRelay, sim: Simulator, small_disk: Path, figures: Figures, storage_url: str
) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("a local disk is SQLite's: once is enough")
    sim.faults(drop_rate=1.0)
    relay = make_relay(storage={"url": f"sqlite:///{small_disk / 'relay.db'}"})
    task = relay.submitted(**video2video())
    assert relay.anon.get("/readyz").status_code == 200

    filler = small_disk / "filler"
    _fill(filler, leave_bytes=4 * 1024 * 1024)
    answer = relay.anon.get("/readyz")
    assert answer.status_code == 503 and "disk almost full" in answer.json()["detail"]

    _fill(filler, leave_bytes=0)
    big = {"status": "RUNNING", "pad": "x" * 900_000}
    statuses = [
        relay.anon.post(
            task["callback_url"].removeprefix(relay.url), json={**big, "n": i}
        ).status_code
        for i in range(8)
    ]
    assert 503 in statuses and set(statuses) <= {200, 503}
    assert relay.anon.get("/readyz").status_code == 503

    filler.unlink()
    freed = time.monotonic()
    wait_for(lambda: relay.anon.get("/readyz").status_code == 200)
    figures.record(
        "disk_full",
        backend="sqlite",
        disk_mb=SIZE_MB,
        readyz_when_almost_full=503,
        callbacks_when_full=dict(sorted({s: statuses.count(s) for s in statuses}.items())),
        ready_again_after_freeing_s=round(time.monotonic() - freed, 1),
    )
