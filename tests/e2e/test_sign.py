"""Outbound signatures verify with the official Standard Webhooks library, given the
configured secret string as is; a secret that could not work stops start-up."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
from standardwebhooks import Webhook

from receiver.config import parse_settings, resolve
from receiver.kernel.errors import ConfigError
from receiver.kernel.secrets import webhooks as sign
from tests.conftest import MakeRelay, relay_env
from tests.harness import SEEN_RUNNING, Simulator, Sink, video2video, wait_for

KEY = os.urandom(24)
PADDED = "whsec_" + base64.b64encode(KEY).decode()
UNPADDED = "whsec_" + base64.b64encode(os.urandom(25)).decode().rstrip("=")


@pytest.mark.parametrize(
    "secret", [PADDED, UNPADDED, sign.new_secret()], ids=["padded", "unpadded", "new"]
)
def test_signatures_verify_with_the_official_library(secret: str) -> None:
    body = json.dumps({"type": "task.succeeded", "data": {"x": "ü"}}).encode()
    headers = sign.headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_both_signatures_of_an_overlap_verify_with_either_secret() -> None:
    new, old = sign.new_secret(), sign.new_secret()
    body = b'{"type":"task.succeeded"}'
    headers = sign.headers([new, old], "msg_2", int(time.time()), body)
    assert headers["webhook-signature"].count(" ") == 1
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers) == json.loads(body)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("a-plain-string-secret-of-some-length", "must be whsec_ followed by base64"),
        ("whsec_", "must be standard base64"),
        ("whsec_" + base64.urlsafe_b64encode(b"\xff" * 24).decode(), "standard base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 16 bytes"),
        ("whsec_abc=d", "standard base64"),
    ],
)
def test_a_secret_that_cannot_work_stops_start_up_with_one_line(secret: str, why: str) -> None:
    settings = parse_settings(
        {"downstream": [{"name": "d", "url": "http://127.0.0.1:9/", "secret_env": "S"}]}
    )
    with pytest.raises(ConfigError) as caught:
        resolve(settings, relay_env(S=secret))
    message = str(caught.value)
    assert why in message and "receiver secret" in message and "\n" not in message
    assert secret not in message or secret == "whsec_"


def test_every_delivery_verifies_with_the_configured_unpadded_secret(
    make_relay: MakeRelay, sim: Simulator, sink: Sink
) -> None:
    relay = make_relay(
        [
            {
                "name": "hook",
                "url": f"{sink.url}/hook",
                "secret_env": "UNPADDED_SECRET",
                "events": ["running", "succeeded"],
                "timeout": 2.0,
            }
        ],
        env={"UNPADDED_SECRET": UNPADDED},
    )
    sim.faults(progress_callbacks=True)
    relay.submit(**video2video(prompt=SEEN_RUNNING))
    hits = wait_for(lambda: len(sink.received("/hook")) >= 2 and sink.received("/hook"))
    verifier = Webhook(UNPADDED)
    for hit in hits:
        verifier.verify(hit["body"].encode(), hit["headers"])
