"""A key's `weight` gives it turns in the submit queue: a weight-3 key sends three tasks for
each one of a weight-1 key while both have tasks waiting, whether each claim has room for
one task (a cap of 1) or more; and `weight` is a JSON integer, nothing read as one."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeRelay
from tests.harness import Relay, image_to_video, wait_for

# The queue's turns are taken in the store's transactions.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

PER_KEY = 12
FIRST = 16  # the probe's window: the first sends once both lines wait


def _key(relay: Relay, name: str, weight: int) -> httpx.Client:
    made = relay.api.post(
        "/v1/keys", json={"name": name, "scopes": ["tasks:submit", "tasks:read"], "weight": weight}
    )
    assert made.status_code == 201, made.text
    return httpx.Client(
        base_url=relay.url, timeout=15, headers={"Authorization": f"Bearer {made.json()['key']}"}
    )


@pytest.mark.parametrize("cap", [1, 3])
def test_a_weight_3_key_sends_three_tasks_for_each_of_a_weight_1_key(
    make_relay: MakeRelay, cap: int
) -> None:
    relay = make_relay(upstream={"max_concurrent_tasks": cap})
    # Tasks that hold every slot while both keys fill their lines, then are cancelled.
    blockers = [
        relay.submitted(**image_to_video(promptText=f"queue=0 run=300 hold {i}"))["id"]
        for i in range(cap)
    ]
    for blocker in blockers:
        relay.wait_task(blocker, lambda t: t["submission"] == "sent", timeout=60)
    heavy, light = _key(relay, "heavy", 3), _key(relay, "light", 1)
    owner: dict[str, str] = {}
    for i in range(PER_KEY):
        for name, client in (("heavy", heavy), ("light", light)):
            made = client.post("/v1/tasks", json=image_to_video(promptText=f"queue=0 run=0 {i}"))
            assert made.status_code == 202, made.text
            owner[made.json()["id"]] = name
    for blocker in blockers:
        assert relay.api.delete(f"/v1/tasks/{blocker}").status_code == 200

    def sends() -> list[tuple[float, str]] | None:
        started = []
        for task_id, name in owner.items():
            submits = relay.api.get(f"/v1/tasks/{task_id}").json()["submits"]
            if submits:
                started.append((min(s["started_at"] for s in submits), name))
        return sorted(started) if len(started) >= FIRST else None

    first = [name for _, name in wait_for(sends, timeout=90, interval=0.5)[:FIRST]]
    # 3:1 within one task (a claim of several shares one start time, in no set order).
    slack = 0 if cap == 1 else 1
    assert abs(first.count("heavy") - 12) <= slack, first


def test_weight_and_limits_are_json_integers(make_relay: MakeRelay) -> None:
    relay = make_relay()
    for field in ("weight", "max_queued", "max_per_day"):
        for spelled in ("3", True, 2.0, None if field == "weight" else "x"):
            body = {"name": "k", "scopes": ["tasks:read"], field: spelled}
            refused = relay.api.post("/v1/keys", json=body)
            assert refused.status_code == 422, (field, spelled, refused.text)
            assert field in refused.json()["detail"], refused.text
    made = relay.api.post("/v1/keys", json={"name": "k", "scopes": ["tasks:read"], "weight": 3})
    assert made.status_code == 201 and made.json()["weight"] == 3, made.text
