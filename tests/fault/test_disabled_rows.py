"""A disabled downstream's rows are held, whatever raced its disable.

On PostgreSQL an event's transaction that read a downstream just before its disable
committed adds its row as pending after the disable held the others (neither sees the
other's uncommitted write). Such a row was never claimed (its downstream is disabled) nor
held: it stayed pending for as long as the downstream stayed disabled. The fan-out now holds
any pending row of a disabled downstream it finds due.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import MakeRelay, webhook
from tests.harness import Relay, Simulator, image_to_video, terminal, wait_for

pytestmark = pytest.mark.fault


def _states(relay: Relay, name: str) -> list[str]:
    found = relay.api.get("/v1/deliveries", params={"downstream": name}).json()["deliveries"]
    return [d["state"] for d in found]


@pytest.mark.postgres
def test_a_pending_row_of_a_disabled_downstream_is_held(
    make_relay: MakeRelay, sim: Simulator, make_sink: Any, storage_url: str
) -> None:
    sink = make_sink()
    relay = make_relay([webhook(sink, "hook")], polling={"initial_delay_seconds": 0.5})
    assert relay.api.post("/v1/downstreams/hook/disable").status_code == 200
    task = relay.submitted(**image_to_video())
    relay.wait_task(task["id"], terminal)
    wait_for(lambda: _states(relay, "hook") == ["held"])
    with psycopg.connect(storage_url) as conn:  # what the race leaves: a row still pending
        raced = conn.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = 0 WHERE downstream = 'hook'"
        )
        assert raced.rowcount == 1
    wait_for(lambda: _states(relay, "hook") == ["held"], interval=0.2)
    assert sink.received("/hook") == []
