"""Signed callback URLs: tokens already out in CometAPI's queue must keep verifying."""

from __future__ import annotations

import pytest

from receiver.kernel.recent import Recent
from receiver.kernel.secrets.tokens import CallbackSigner, TokenRejected

OLD_KEY = "old-key-for-rotation-000000"
NEW_KEY = "current-key-1111111111111111"
# Issued on 2026-11-22 by the signer as it was before HMAC moved to hashlib's constructor:
# one by the newest key, one by a key since rotated out.
BY_NEW_KEY = (
    "eyJ0IjoidHNrXzE4ZWE3NmJlMmUxNDRjODBiZTZmZWJkM2RiMTAifQ.awNd6Q.VGZ6CgJtCK3PMzOgpj6zZpmxchU"
)
BY_OLD_KEY = (
    "eyJ0IjoidHNrXzE4ZWE3NmJlMmUxNDRjODBiZTZmZWJkM2RiMTEifQ.awNd6Q.Id1wEF8CLz3bc1O__GwvePZ5qpg"
)
CENTURY = 100 * 365 * 86400
RELAY = "https://relay.example"


def test_tokens_issued_earlier_still_verify_under_every_configured_key():
    signer = CallbackSigner([OLD_KEY, NEW_KEY], CENTURY, RELAY)
    assert signer.verify(BY_NEW_KEY) == "tsk_18ea76be2e144c80be6febd3db10"
    assert signer.verify(BY_OLD_KEY) == "tsk_18ea76be2e144c80be6febd3db11"


def test_the_callback_url_is_the_relay_s_callback_route_with_a_token_for_the_task():
    signer = CallbackSigner([OLD_KEY, NEW_KEY], CENTURY, RELAY + "/")
    prefix, token = signer.url_for("tsk_x").rsplit("/", 1)
    assert prefix == f"{RELAY}/callbacks/runway"
    assert signer.verify(token) == "tsk_x"


def test_a_new_token_round_trips_and_a_key_not_configured_is_refused():
    signer = CallbackSigner([OLD_KEY, NEW_KEY], CENTURY, RELAY)
    assert signer.verify(signer.token_for("tsk_x")) == "tsk_x"
    with pytest.raises(TokenRejected) as refused:
        CallbackSigner([NEW_KEY], CENTURY, RELAY).verify(BY_OLD_KEY)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "token",
    [
        BY_NEW_KEY[:-1] + ("A" if BY_NEW_KEY[-1] != "A" else "B"),  # signature changed
        BY_NEW_KEY.replace("eyJ0", "eyJ1", 1),  # payload changed
        "not-a-token",
        "",
    ],
)
def test_tampered_tokens_are_refused(token: str):
    with pytest.raises(TokenRejected) as refused:
        CallbackSigner([OLD_KEY, NEW_KEY], CENTURY, RELAY).verify(token)
    assert refused.value.reason == "bad_signature"


def test_an_old_token_past_the_maximum_age_is_expired():
    with pytest.raises(TokenRejected) as refused:
        CallbackSigner([OLD_KEY, NEW_KEY], 1, RELAY).verify(BY_NEW_KEY)
    assert refused.value.reason == "expired"


def test_a_task_queued_and_sent_soon_is_given_the_url_signed_when_it_was_queued():
    signer = CallbackSigner([NEW_KEY], CENTURY, RELAY)
    queued = signer.url_for("tsk_a")
    assert signer.url_for("tsk_a") is queued  # at its send: not signed again
    assert signer.url_for("tsk_b") != queued
    token = queued.rsplit("/", 1)[1]
    assert signer.verify(token) == "tsk_a"


def test_a_recent_memory_forgets_past_its_window_and_its_size():
    memory: Recent[str] = Recent(60.0, 2)
    memory.keep("a", "1")
    assert memory.get("a") == "1" and memory.get("a", 0.0) is None
    memory.keep("b", "2")
    memory.keep("c", "3")  # full, none old: the oldest goes
    assert memory.get("a") is None and memory.get("b") == "2" and memory.get("c") == "3"
