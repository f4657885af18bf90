"""Each delivery attempt keeps the start of the downstream's answer body (bounded,
scrubbed of secrets), on both backends: the API's attempts carry it as `excerpt`, for an
answer that succeeded and one that failed; an attempt that got no answer has none."""

from __future__ import annotations

from tests.conftest import MakeRelay, webhook
from tests.harness import SECRETS, Sink, image_to_video, wait_for


def test_an_attempt_keeps_the_start_of_its_answer(make_relay: MakeRelay, sink: Sink):
    relay = make_relay([webhook(sink, "hook")])
    ok = relay.submit(**image_to_video()).json()["id"]

    def attempts(task_id: str) -> list[dict[str, object]]:
        return list(relay.api.get(f"/v1/tasks/{task_id}").json()["attempts"])

    done = wait_for(lambda: [a for a in attempts(ok) if a["outcome"] == "succeeded"])
    assert done[0]["status"] == 200 and done[0]["excerpt"] == '{"ok":true}'

    sink.mode(status=503)
    failing = relay.submit(**image_to_video()).json()["id"]
    failed = wait_for(lambda: [a for a in attempts(failing) if a["status"] == 503])
    excerpt = str(failed[0]["excerpt"])
    assert excerpt == '{"error":"sink answering 503"}'
    assert len(excerpt) <= 500 and not [s for s in SECRETS if s in excerpt]
    sink.mode(status=200)
