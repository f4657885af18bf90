"""Any body that is accepted can be sent: a request carrying 20,000 small `data:` URIs is
built for its send in time linear in its bytes (the small URIs read many at a time, not one
store round trip each) and reaches CometAPI whole, once, well inside the upstream timeout;
the send, its body included, never outlives that timeout, so the sweep of sends cut off by
a stop never blames a stop that did not happen. One more URI than that is refused at
intake with a 422: what is accepted is what can be sent."""

from __future__ import annotations

import base64
import time

import pytest

from tests.conftest import MakeRelay
from tests.fault.support import Figures, backend_of
from tests.harness import Simulator, terminal

# Many values as each backend stores them.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

URIS = 20_000
# The send takes about 1 s on a quiet machine; a CI run at a load of 25 on two cores took
# past 10 s, so its timeout is 30 times the quiet figure.
TIMEOUT = 30


def _uri(index: int) -> str:
    return "data:image/png;base64," + base64.b64encode(index.to_bytes(9, "big")).decode()


def test_a_body_of_20000_data_uris_is_sent_whole_once(
    make_relay: MakeRelay, sim: Simulator, figures: Figures, storage_url: str
) -> None:
    # The sweep of cut-off sends looks after twice the timeout: a send that outlived it
    # (the body built for 14 s before) was failed as "the relay stopped".
    relay = make_relay(
        upstream={"timeout_seconds": TIMEOUT},
        polling={"callback_grace_seconds": 1, "scan_seconds": 0.2, "lease_seconds": 45},
    )
    images = [{"uri": _uri(index), "tag": f"t{index}"} for index in range(URIS)]
    body = {"kind": "text_to_image", "model": "gen4_image", "promptText": "a", "seed": 1}
    created = relay.submit(**body, referenceImages=images)
    assert created.status_code == 202, created.text[:500]
    task_id = created.json()["id"]
    submitted = time.monotonic()
    done = relay.wait_task(task_id, terminal, timeout=90)
    took = time.monotonic() - submitted
    assert done["state"] == "succeeded", done.get("error")
    # Sent once, and CometAPI read it whole.
    detail = relay.task(task_id)
    sends = [
        (s["outcome"], s["error"], s["finished_at"] - s["started_at"]) for s in detail["submits"]
    ]
    assert [s["outcome"] for s in detail["submits"]] == ["accepted"], sends
    [task] = [t for t in sim.tasks() if t["task_id"] == done["upstream_task_id"]]
    assert task["body"]["referenceImages"] == images
    more = [*images, {"uri": _uri(URIS), "tag": "over"}]
    refused = relay.submit(**body, referenceImages=more)
    assert refused.status_code == 422, refused.text[:500]
    assert f"{URIS + 1} data: URIs, over {URIS}" in refused.json()["detail"]
    figures.record(
        "many_data_uris",
        backend=backend_of(storage_url),
        data_uris=URIS,
        send_seconds=round(
            detail["submits"][0]["finished_at"] - detail["submits"][0]["started_at"], 2
        ),
        submit_to_end_seconds=round(took, 1),
    )
