"""Downstreams made through the API: their secrets sealed (and re-sealed after the relay's
secret rotates), the signatures of a rotation's overlap, how they are shown, the change
rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receiver.config import DownstreamChange, ManagedDownstreamConfig, managed_downstream
from receiver.downstreams.manage import shown_url
from receiver.kernel.net.guard import PrivateAddress, check_host
from receiver.kernel.secrets.sealing import Sealer, Unsealable, open_url, seal_url, url_is_current
from receiver.kernel.secrets.signing import secrets_in_use

OLD, NEW = "relay-secret-before-rotation-0001", "relay-secret-after-rotation-00002"
HOOK_SECRET = "whsec_" + "A" * 32


def test_a_sealed_secret_opens_only_for_its_own_row_and_never_shows_in_clear() -> None:
    sealer = Sealer([NEW])
    sealed = sealer.seal(HOOK_SECRET, "orders")
    assert HOOK_SECRET not in sealed and "A" * 8 not in sealed
    assert sealer.open(sealed, "orders") == HOOK_SECRET
    assert sealer.seal(HOOK_SECRET, "orders") != sealed  # a fresh nonce each time
    with pytest.raises(Unsealable):
        sealer.open(sealed, "billing")  # copied onto another row
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(Unsealable):
        sealer.open(tampered, "orders")


def test_after_the_relays_secret_rotates_old_seals_open_and_are_resealed() -> None:
    before = Sealer([OLD]).seal(HOOK_SECRET, "orders")
    after = Sealer([OLD, NEW])  # newest last, as the config lists them
    assert after.open(before, "orders") == HOOK_SECRET
    assert not after.is_current(before)
    resealed = after.seal(after.open(before, "orders"), "orders")
    assert after.is_current(resealed)
    assert Sealer([NEW]).open(resealed, "orders") == HOOK_SECRET
    with pytest.raises(Unsealable):
        Sealer([NEW]).open(before, "orders")  # the old key dropped too early


def managed(**extra: object) -> ManagedDownstreamConfig:
    return ManagedDownstreamConfig.model_validate(
        {"name": "d", "url": "https://hooks.example.com/x", **extra}
    )


def test_during_the_overlap_both_secrets_sign_and_after_it_only_the_new() -> None:
    d = managed_downstream(managed(), "whsec_new", "whsec_old", previous_until=100.0)
    assert secrets_in_use(d, now=99.0) == ["whsec_new", "whsec_old"]
    assert secrets_in_use(d, now=100.0) == ["whsec_new"]
    assert secrets_in_use(managed_downstream(managed(), "whsec_new", None, None), 0) == [
        "whsec_new"
    ]


def test_urls_are_shown_without_their_credentials() -> None:
    hook = managed_downstream(managed(), "s", None, None)
    assert shown_url(hook) == "https://hooks.example.com/x"
    slack = managed_downstream(
        managed(format="slack", url="https://hooks.example.com/services/T0/B0/tok"), "s", None, None
    )
    assert shown_url(slack) == "https://hooks.example.com/…"
    broker = managed_downstream(
        managed(format="amqp", url="amqp://relay:hunter2@mq.example.com:5672/", routing_key="k"),
        "s",
        None,
        None,
    )
    assert "hunter2" not in shown_url(broker) and "mq.example.com:5672" in shown_url(broker)
    kafka = managed(format="kafka", url="kafkas://relay:hunter2@k1:9093,k2:9093/runway.events")
    assert shown_url(managed_downstream(kafka, "s", None, None)) == (
        "kafkas://relay:***@k1:9093,k2:9093/runway.events"
    )


def test_a_change_takes_any_setting_but_the_name_and_nothing_unknown() -> None:
    assert DownstreamChange.model_validate({"timeout": 3}).model_dump(exclude_unset=True) == {
        "timeout": 3.0
    }
    for wrong in ({"name": "other"}, {"secret_env": "X"}, {"url_env": "X"}):
        with pytest.raises(ValidationError):
            DownstreamChange.model_validate(wrong)
    with pytest.raises(ValidationError):
        managed(secret_env="HOOK_SECRET")  # the API makes the secret


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.0.0.8", "169.254.169.254", "[::1]", "224.0.0.1", "localhost", "a.localhost."],
)
def test_hosts_from_the_api_that_are_local_by_address_or_name_are_refused(host: str) -> None:
    with pytest.raises(PrivateAddress):
        check_host(host)


def test_public_hosts_and_names_pass_before_dns() -> None:
    for host in ("93.184.215.14", "hooks.example.com", "[2606:4700::1111]"):
        check_host(host)


def test_header_values_are_sealed_bound_to_their_row_and_resealed() -> None:
    old, new = (
        Sealer(["first-secret-0123456789"]),
        Sealer(["first-secret-0123456789", "second-0123456789abc"]),
    )
    spec = {"url": "https://x.example/h", "headers": {"Authorization": "Bearer key-0123456789"}}
    stored = seal_url(old, spec, "crm")
    assert "headers" not in stored and "key-0123456789" not in str(stored)
    assert open_url(old, stored, "crm") == spec
    with pytest.raises(Unsealable):
        open_url(old, stored, "other")
    assert not url_is_current(new, stored)
    assert url_is_current(new, seal_url(new, open_url(new, stored, "crm"), "crm"))
    assert seal_url(old, {"url": "https://x.example/h"}, "crm").keys() == {"sealed_url"}


def test_an_apps_task_webhooks_sign_with_its_pair_and_the_replaced_one_in_the_overlap() -> None:
    from receiver.config.sections import DeliveryConfig
    from receiver.deliveries.fanout.lanes import app_task_webhooks
    from receiver.kernel.secrets.signing import new_secret
    from receiver.keys.webhook_keys import AppWebhookKeys, KeyPair

    new = KeyPair(new_secret(), new_secret("ed25519"))
    old = KeyPair(new_secret(), new_secret("ed25519"))
    keys = AppWebhookKeys(new, old, 100.0)
    lane = app_task_webhooks("app_x.task-webhook", keys, DeliveryConfig())
    assert secrets_in_use(lane, now=99.0) == [new.secret, new.key, old.secret, old.key]
    assert secrets_in_use(lane, now=100.0) == [new.secret, new.key]
    assert lane.max_in_flight == DeliveryConfig().task_webhook_max_in_flight
