"""CometAPI asking for an absurd wait: a Retry-After of a billion seconds (or more) is cut to
`upstream.max_retry_after_seconds`; the task it refused is tried again, not failed, and the
sends behind it wait no longer than the cap."""

from __future__ import annotations

import pytest

from tests.conftest import MakeRelay
from tests.harness import Simulator, image_to_video, settled

pytestmark = pytest.mark.fault

CAP = 1.0


@pytest.mark.parametrize("asked", [1e9, 1e300])
def test_an_absurd_retry_after_is_capped_and_the_task_still_goes(
    make_relay: MakeRelay, sim: Simulator, asked: float
) -> None:
    relay = make_relay(
        upstream={"max_retry_after_seconds": CAP, "submit_retry_initial_seconds": 0.1}
    )
    sim.faults(submit_status=429, submit_status_count=1, retry_after_seconds=asked)
    first = relay.submit(**image_to_video()).json()["id"]
    behind = relay.submit(**image_to_video()).json()["id"]
    done = [relay.wait_task(t, settled) for t in (first, behind)]
    assert [t["state"] for t in done] == ["succeeded", "succeeded"]
    # One send is refused: the first to reach CometAPI, which may be either (one claim can
    # take both, and their sends race).
    [refused] = [t["submits"][0] for t in done if t["submits"][0]["status"] == 429]
    assert refused["outcome"] == "retry"
    assert refused["retry_at"] - refused["finished_at"] <= CAP + 0.01
