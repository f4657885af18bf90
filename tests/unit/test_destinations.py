"""A destination is one provider: every registered one answers the whole interface (its
settings checked and masked, its AsyncAPI binding, its extra), and each destination's name
stands in its own module or package, its metadata, and at most one module more."""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from receiver.config import ManagedDownstreamConfig
from receiver.destinations.provider import Binding, Metadata, Provider
from receiver.destinations.publishing import Publisher
from receiver.destinations.registry import PROVIDERS, render
from receiver.outbox.rules.event_types import TEST_TYPE, example_document
from tests.sources import parsed

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "receiver"
OPTIONAL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
MOST_MODULES = 3
# `webhook` is also every task's own webhook, its headers and the JSON event each format
# starts from: it is the relay's default, not one destination among others. `s3` is also the
# `[media]` store (`media.store = "s3"`, its extra); these modules speak only of that one.
NOT_COUNTED = {"webhook"}
MEDIA_STORE = {
    "cli/runners",
    "config/load",
    "config/sections",
    "config/show",
    "kernel/extras",
    "media/storage/local",
    "shares/page",
}
# A downstream of each format that its provider takes, its target named where it has one.
EXAMPLES: dict[str, dict[str, Any]] = {
    "webhook": {"url": "https://hooks.example/relay"},
    "slack": {"url": "https://hooks.slack.com/services/T0/B0/secret"},
    "discord": {"url": "https://discord.com/api/webhooks/1/secret"},
    "teams": {"url": "https://example.webhook.office.com/webhookb2/secret"},
    "telegram": {"url": "https://api.telegram.org/bot1:secret?chat_id=-100"},
    "google_chat": {"url": "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t"},
    "mattermost": {"url": "https://chat.example/hooks/secret"},
    "amqp": {"url": "amqp://u:pw@rabbit:5672", "routing_key": "relay.{state}"},
    "nats": {"url": "nats://nats:4222", "subject": "relay.{state}"},
    "mqtt": {"url": "mqtt://mq:1883", "topic": "relay/{state}"},
    "redis": {"url": "redis://r:6379/0", "stream": "relay"},
    "kafka": {"url": "kafka://u:pw@k1:9092,k2:9092/relay", "sasl_mechanism": "SCRAM-SHA-512"},
    "sqs": {"url": "https://sqs.eu-west-1.amazonaws.com/123456789012/relay"},
    "sns": {"url": "arn:aws:sns:us-east-2:123456789012:relay"},
    "eventbridge": {"url": "default"},
    "s3": {"url": "s3://acme-events/relay"},
    "kinesis": {"url": "arn:aws:kinesis:eu-west-1:123456789012:stream/relay"},
    "pubsub": {"url": "pubsub://projects/acme-events/topics/relay"},
    "pull": {},  # no address: its app reads it
}


def test_every_registered_format_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(PROVIDERS)


@pytest.mark.parametrize("fmt", list(PROVIDERS))
def test_each_provider_answers_the_whole_interface(fmt: str) -> None:
    provider = PROVIDERS[fmt]
    described = provider.metadata
    assert isinstance(provider, Provider) and described.format == fmt
    assert described.extra is None or described.extra in OPTIONAL
    settings = ManagedDownstreamConfig.model_validate({"name": "d", "format": fmt, **EXAMPLES[fmt]})
    # Its settings: its address checked, a stand-in for a sealed one, its own keys its own.
    assert provider.validate(settings.url).url
    assert provider.validate(described.stand_in_url).url
    with pytest.raises(ValueError, match=r"\S"):
        provider.validate("not an address of anything")
    found = provider.validate(settings.url, settings)
    own = set(described.settings.model_fields) if described.settings else set()
    assert own <= set(ManagedDownstreamConfig.model_fields)
    assert described.target_setting is None or described.target_setting in own
    binding = found.binding
    assert binding is None or (isinstance(binding, Binding) and binding.protocol)
    rendered = render(fmt, example_document(TEST_TYPE), settings.url)
    assert rendered.body.startswith(b"{")
    if described.sent != "request":
        # A publisher of the `webhook` event, opened only with its extra; one read by its
        # app (`pull`) is settled by the relay: no client, no address.
        assert rendered.body == render("webhook", example_document(TEST_TYPE)).body
        assert described.sent == "read" or described.extra is not None
        assert described.sent == "read" or found.targets


def test_the_contract_is_small() -> None:
    """Outpost's shape: a provider validates, opens a publisher and describes itself (and
    renders an HTTP destination's body); a `Publisher` publishes and closes; its metadata
    is a plain record with few flags."""
    members = [name for name in vars(Provider) if not name.startswith("_")]
    assert len(members) <= 4, members
    publisher = [name for name in vars(Publisher) if not name.startswith("_")]
    assert sorted(publisher) == ["close", "publish"]
    flags = [f.name for f in fields(Metadata) if f.type in ("bool", bool)]
    assert len(flags) < 6, flags


# What asks a destination what kind it is: its flags, or the classes below the contract.
_KIND = re.compile(
    r"\.(publishes|addressless|in_forms|previewable|transformable|url_is_credential"
    r"|masks_url_path|stand_in_url|target_setting|broker|url_secret|formed)\b|provider_of"
    r"|PROVIDERS|\bMETADATA\b"
    r"|Destination\b|describe\([^)]*\)\.|registry import[^\n]*\bdescribe\b"
)


def test_nothing_outside_the_destinations_asks_what_kind_a_destination_is() -> None:
    """The registry answers each question in its own words (`read_by_pull`, `untestable`,
    `masked_url`, ...); nothing else reads a destination's flags or switches on its class."""
    asking = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "destinations" and _KIND.search(path.read_text())
    ]
    assert asking == []


def _names_in(path: Path) -> set[str]:
    """The words a module uses as code: names, attributes, imports and whole strings."""
    found: set[str] = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value.strip())
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.update(node.name.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(node.module.split("."))
    return found


def _owner(path: Path) -> str:
    """A module, or the destination's package it stands in."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[0] == "destinations" and len(parts) > 2:
        return f"destinations/{parts[1]}"
    return "/".join(parts)


def test_each_destination_is_named_in_at_most_three_modules() -> None:
    named: dict[str, set[str]] = {fmt: set() for fmt in PROVIDERS if fmt not in NOT_COUNTED}
    for path in PACKAGE.rglob("*.py"):
        used = _names_in(path)
        for fmt, owners in named.items():
            if fmt in used and not (fmt == "s3" and _owner(path) in MEDIA_STORE):
                owners.add(_owner(path))
    crowded = {fmt: sorted(owners) for fmt, owners in named.items() if len(owners) > MOST_MODULES}
    assert crowded == {}
    for fmt, owners in named.items():  # its own module and its metadata among them
        assert {"destinations/metadata"} <= owners
        assert f"destinations/{fmt}" in owners
