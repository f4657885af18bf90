"""Large inputs cost their size once: a 60 MiB `data:` URI through the front door is kept
once, outside the task row (which every state change rewrites), read back for each send to
CometAPI, shown by the API and the console as its type and size, pruned with its task; the
relay's peak memory grows by a small multiple of the body."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, all_tasks, backend_of, store_sql
from tests.harness import ADMIN_TOKEN, Simulator, terminal, video_to_video, wait_for

# Large values as each backend stores them.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

MIB = 1024 * 1024
RUNWAY_HEADERS = {
    "Authorization": f"Bearer {ADMIN_TOKEN}",
    "X-Runway-Version": "2024-11-06",
    "Content-Type": "application/json",
}
PREFIX = "data:video/mp4;base64,"
SMALL_ANSWER = 64 * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _store_bytes(storage_url: str) -> int:
    """What the store holds on disk: SQLite's main file (the WAL is checkpointed into it),
    PostgreSQL's tables in the test's schema with their TOAST."""
    if storage_url.startswith("sqlite"):
        return Path(storage_url.removeprefix("sqlite:///")).stat().st_size
    [(size,)] = store_sql(
        storage_url,
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'",
    )
    return int(size)


def _data_uri(total: int) -> str:
    """A data URI of `total` characters carrying random bytes (nothing compresses it)."""
    raw = os.urandom((total - len(PREFIX)) * 3 // 4)
    return PREFIX + base64.b64encode(raw).decode()


def test_a_60_mib_data_uri_is_kept_once_and_shown_as_its_size(
    make_relay: MakeRelay, sim: Simulator, figures: Figures, storage_url: str
) -> None:
    # Time enough for 60 MiB to reach the simulator on a busy machine: one refusal, one send.
    relay = make_relay(upstream={"timeout_seconds": 30}, polling={"lease_seconds": 40})
    assert relay.proc is not None
    pid = relay.proc.pid
    # Warm: every route and worker the big task goes through has run once.
    warm = relay.submitted(**video_to_video())["id"]
    assert relay.wait_task(warm, terminal)["state"] == "succeeded"
    peak_before = _status_kib(pid, "VmHWM")
    store_before = _store_bytes(storage_url)

    uri = _data_uri(60 * MIB)
    fields = {"model": "gen4_aleph", "videoUri": uri, "promptText": "make it cinematic", "seed": 7}
    body = json.dumps(fields).encode()
    sim.faults(submit_status=429, submit_status_count=1)  # refused once: sent twice
    created = relay.anon.post(
        "/runwayml/v1/video_to_video", content=body, headers=RUNWAY_HEADERS, timeout=120
    )
    assert created.status_code == 200, created.text[:500]
    task_id = created.json()["id"]
    del body
    done = relay.wait_task(task_id, terminal, timeout=60)
    # The simulator refuses anything but a base64 data URI or a URL: the bytes went out.
    assert done["state"] == "succeeded", done.get("error")
    peak_after = _status_kib(pid, "VmHWM")
    rss_after = _status_kib(pid, "VmRSS")

    # Shown as its type and size, never its bytes, by every answer.
    detail = relay.api.get(f"/v1/tasks/{task_id}")
    assert len(detail.content) < SMALL_ANSWER, len(detail.content)
    decoded = (len(uri) - len(PREFIX)) * 3 // 4 - (len(uri) - len(uri.rstrip("=")))
    shown = detail.json()["request"]["videoUri"]["data_uri"]
    assert (shown["type"], shown["bytes"]) == ("video/mp4", decoded), shown
    # The refusal, then the send CometAPI took. A send may also be lost on the way, before
    # or after the refusal (a kept-alive connection the simulator closed just as it was
    # reused, on a loaded machine): no answer, sent again, and never a second task.
    sends = [(s["status"], s["outcome"]) for s in detail.json()["submits"]]
    answered = [send for send in sends if send[0] is not None]
    assert answered == [(429, "retry"), (200, "accepted")], sends
    assert all(outcome == "retry" for status, outcome in sends if status is None), sends
    assert len(sim.tasks()) == 2  # the warm task and this one: a send again is no second task
    listed = relay.api.get("/v1/tasks", params={"limit": 10})
    assert len(listed.content) < SMALL_ANSWER
    front = relay.anon.get(f"/runwayml/v1/tasks/{task_id}", headers=RUNWAY_HEADERS)
    assert front.status_code == 200 and len(front.content) < SMALL_ANSWER
    page = relay.console().get(f"/console/tasks/{task_id}")
    assert page.status_code == 200 and len(page.content) < SMALL_ANSWER
    assert "video/mp4" in page.text and uri[len(PREFIX) : len(PREFIX) + 64] not in page.text

    # Kept once, apart: the task row holds a small reference.
    [(request_length,)] = store_sql(
        storage_url, "SELECT LENGTH(request) FROM tasks WHERE id = ?", task_id
    )
    assert request_length < 4096
    [(kept, kept_length)] = store_sql(
        storage_url,
        "SELECT COUNT(DISTINCT sha256), SUM(LENGTH(body)) FROM task_inputs WHERE task_id = ?",
        task_id,
    )
    assert (kept, kept_length) == (1, len(uri))

    # SQLite's main file grows once the WAL is checkpointed into it.
    def growth() -> int | None:
        grown = _store_bytes(storage_url) - store_before
        return grown if grown >= len(uri) else None

    grown = wait_for(growth)
    assert grown < 1.3 * len(uri), (grown, len(uri))
    peak_growth = (peak_after - peak_before) * 1024
    # The body, orjson's copy of it and the text it reads: no send holds the URI again.
    assert peak_growth < 4 * len(uri), (peak_growth, len(uri))
    figures.record(
        "large_data_uri",
        backend=backend_of(storage_url),
        data_uri_mib=round(len(uri) / MIB, 1),
        relay_peak_growth_mib=round(peak_growth / MIB, 1),
        relay_rss_after_mib=round(rss_after / 1024, 1),
        store_growth_mib=round(grown / MIB, 1),
        task_answer_bytes=len(detail.content),
        console_page_bytes=len(page.content),
    )
    relay.stop()

    # Pruned with its task.
    make_relay(retention={"task_days": 1 / 86400, "interval_seconds": 0.2})
    wait_for(lambda: store_sql(storage_url, "SELECT COUNT(*) FROM task_inputs")[0][0] == 0 or None)
    assert store_sql(storage_url, "SELECT COUNT(*) FROM tasks WHERE id = ?", task_id) == [(0,)]


def _files_bytes(storage_url: str) -> int:
    """What the store holds on disk, SQLite's WAL file included."""
    if not storage_url.startswith("sqlite"):
        return _store_bytes(storage_url)
    path = Path(storage_url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_large_text_is_kept_once_however_it_is_spelled(
    make_relay: MakeRelay, sim: Simulator, figures: Figures, storage_url: str
) -> None:
    relay = make_relay(upstream={"timeout_seconds": 30}, polling={"lease_seconds": 40})
    # Kept inline, these were copied into the task row that every state change rewrites
    # (32 MiB answered by every GET): refused by name, nothing stored.
    payload = base64.b64encode(os.urandom(2 * MIB)).decode()
    long_header = "data:video/mp4;" + "name=x;" * 700 + "base64," + payload
    header = relay.submit(
        kind="video_to_video", model="gen4_aleph", videoUri=long_header, promptText="p"
    )
    assert header.status_code == 422, header.text[:300]
    assert header.json()["detail"].startswith("videoUri: holds"), header.text[:300]
    assert "4096" in header.json()["detail"]
    plain = relay.submit(
        kind="text_to_image", model="gen4_image", promptText="p", notes="x" * (2 * MIB)
    )
    assert plain.status_code == 422, plain.text[:300]
    assert plain.json()["detail"].startswith("notes: holds"), plain.text[:300]
    assert all_tasks(relay) == []

    # A 20 MiB data URI grows the store by its size once: SQLite's WAL gives its copy back.
    warm = relay.submitted(**video_to_video())["id"]
    assert relay.wait_task(warm, terminal)["state"] == "succeeded"
    before = _files_bytes(storage_url)
    uri = _data_uri(20 * MIB)
    fields = {"model": "gen4_aleph", "videoUri": uri, "promptText": "p"}
    created = relay.submit(kind="video_to_video", **fields)
    assert created.status_code == 202, created.text[:300]
    done = relay.wait_task(created.json()["id"], terminal, timeout=60)
    assert done["state"] == "succeeded", done.get("error")

    seen: list[int] = []

    def growth() -> int | None:
        # Once checkpointed, the URI is in the main file and the WAL is cut back (a large
        # write); before, the WAL kept a second copy for good.
        seen.append(_files_bytes(storage_url) - before)
        return seen[-1] if seen[-1] < 1.3 * len(uri) else None

    grown = wait_for(growth)
    assert _store_bytes(storage_url) - before > 0.9 * len(uri), seen[-3:]
    figures.record(
        "large_data_uri_files",
        backend=backend_of(storage_url),
        data_uri_mib=round(len(uri) / MIB, 1),
        store_files_growth_mib=round(grown / MIB, 1),
    )
