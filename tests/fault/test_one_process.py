"""Two relays on one SQLite file: the second is refused before it touches a lease.

A SQLite relay takes back every lease on its file when it starts, which is right only when
no other process works on it. Here a second `receiver serve` starts on the file while the
first has deliveries in flight to a slow downstream: it must exit at once with one line
naming the first one's pid, and no delivery may go out twice. Then the first is killed with
`kill -9`: its lock dies with it, and a new relay starts on the file and goes on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures
from tests.forked import Process
from tests.harness import Relay, Sink, settled, video2video, wait_for

pytestmark = pytest.mark.fault
TASKS = 8
# Each delivery is held this long by the sink: longer than a second relay takes to start,
# so the first relay's deliveries are in flight when it would take their leases back.
SINK_DELAY = 5.0


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'relay.db'}"


def _exited_or_ready(proc: Process, relay: Relay) -> bool:
    if proc.poll() is not None:
        return True
    try:
        return relay.anon.get("/readyz", timeout=1).status_code == 200
    except Exception:
        return False


def _webhook_ids(sink: Sink) -> Counter[str]:
    return Counter(h["headers"]["webhook-id"] for h in sink.accepted())


def _quiet(sink: Sink) -> bool:
    """No request is held at the sink: every delivery sent so far has been answered."""
    return all("released_at" in h for h in sink.received())


def test_a_second_relay_on_one_sqlite_file_is_refused_and_nothing_goes_out_twice(
    make_relay: MakeRelay, sink: Sink, storage_url: str, figures: Figures
) -> None:
    hook = webhook(sink, timeout=SINK_DELAY + 3)  # held, never timed out
    first = make_relay([hook])
    sink.mode(delay_seconds=SINK_DELAY)
    task_ids = [first.submit(**video2video()).json()["id"] for _ in range(TASKS)]
    wait_for(lambda: len(sink.received()) >= TASKS // 2)
    in_flight = sum("released_at" not in h for h in sink.received())

    second = make_relay([hook], start=False)
    assert second.proc is None
    second.proc = second._spawn("serve", second.log_path)
    wait_for(lambda: _exited_or_ready(second.proc, second), timeout=60)
    for task_id in task_ids:
        first.wait_task(task_id, settled, timeout=60)
    wait_for(lambda: _quiet(sink))
    ids = _webhook_ids(sink)
    refusal = second.log().strip()
    figures.record(
        "second_process_on_sqlite",
        deliveries_in_flight_when_it_started=in_flight,
        second_exit_code=second.proc.returncode,
        refusal=refusal if second.proc.returncode is not None else None,
        deliveries=sum(ids.values()),
        duplicate_deliveries=sum(ids.values()) - len(ids),
    )
    database = storage_url.removeprefix("sqlite:///")
    assert first.proc is not None
    assert second.proc.returncode == 2, "the second relay was not refused"
    assert refusal == (
        f"receiver: another relay process (pid {first.proc.pid}) is already running on {database}"
    )
    assert len(ids) == TASKS and set(ids.values()) == {1}, ids

    # kill -9 leaves no stale lock: a new relay starts on the file and works.
    sink.mode(delay_seconds=0)
    first.kill()
    third = make_relay([hook])
    more = [third.submit(**video2video()).json()["id"] for _ in range(3)]
    for task_id in more:
        third.wait_task(task_id, settled)
    wait_for(lambda: len(_webhook_ids(sink)) == TASKS + 3)
    assert set(_webhook_ids(sink).values()) == {1}
