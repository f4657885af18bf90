"""Key rotation: tokens issued before a rotation keep working until the old key is retired.

Three relays share one store: one signing with the old secret, one rotated (new secret
signs, old secret still verifies), one with the old secret retired.
"""

from __future__ import annotations

import pytest

from receiver.kernel.secrets.tokens import CallbackSigner, TokenRejected
from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of, callback_body
from tests.harness import OLD_SIGNING_SECRET, SIGNING_SECRET, Relay, Simulator, Sink, settled

# Sealed rows, read again under the new key, on each backend.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

TASKS = 3
# Only our callbacks move tasks: no poll before the grace, not even asking if one runs.
HOLD_POLLS = {"callback_grace_seconds": 600, "initial_delay_seconds": 600}


def _submit(relay: Relay) -> tuple[str, str, str]:
    body = relay.submitted(
        kind="video2video", video="https://example.invalid/in.mp4", prompt="rotate"
    )
    return body["id"], body["upstream_task_id"], body["callback_url"].rsplit("/", 1)[1]


def _post(relay: Relay, token: str, upstream_id: str) -> int:
    return relay.anon.post(
        f"/callbacks/runway/{token}", content=callback_body(upstream_id)
    ).status_code


def test_old_tokens_verify_until_the_old_secret_is_retired(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, figures: Figures, storage_url: str
) -> None:
    sim.faults(drop_rate=1.0)
    old_signer = CallbackSigner([OLD_SIGNING_SECRET], 3600, public_url="")
    new_signer = CallbackSigner([SIGNING_SECRET], 3600, public_url="")

    before = make_relay(
        [webhook(sink)], env={"RECEIVER_SECRET": OLD_SIGNING_SECRET}, polling=HOLD_POLLS
    )
    issued_before = [_submit(before) for _ in range(2 * TASKS)]
    before.stop()
    for task_id, _, token in issued_before:
        assert old_signer.verify(token) == task_id

    rotated = make_relay(
        [webhook(sink)],
        callbacks={"previous_secret_envs": ["RECEIVER_SECRET_OLD"]},
        polling=HOLD_POLLS,
    )
    issued_after = [_submit(rotated) for _ in range(TASKS)]
    for task_id, _, token in issued_after:
        assert new_signer.verify(token) == task_id  # signed by the new secret...
        with pytest.raises(TokenRejected):
            old_signer.verify(token)  # ...and not by the old one
    old_accepted = [_post(rotated, t, up) for _, up, t in issued_before[:TASKS]]
    new_accepted = [_post(rotated, t, up) for _, up, t in issued_after]
    assert old_accepted == new_accepted == [200] * TASKS
    for task_id, _, _ in issued_before[:TASKS] + issued_after:
        assert rotated.wait_task(task_id, settled)["state"] == "succeeded"
    rotated.stop()

    retired = make_relay([webhook(sink)], polling=HOLD_POLLS)
    old_refused = [_post(retired, t, up) for _, up, t in issued_before[TASKS:]]
    assert old_refused == [403] * TASKS
    for task_id, _, _ in issued_before[TASKS:]:
        assert retired.task(task_id)["state"] == "queued"
    # Tokens of the current secret still work (an exact repeat: acknowledged, not re-applied).
    assert [_post(retired, t, up) for _, up, t in issued_after] == [200] * TASKS

    figures.record(
        "key_rotation",
        backend=backend_of(storage_url),
        old_tokens_accepted_during_rotation=old_accepted.count(200),
        new_tokens_signed_by_new_secret=len(issued_after),
        new_tokens_verifiable_with_old_secret=0,
        old_tokens_refused_after_retirement=old_refused.count(403),
    )
