"""The shipped example config must load, and must stay in step with the settings model."""

from __future__ import annotations

import tomllib
from pathlib import Path

from receiver.config import Settings, load
from receiver.config.names import ADVANCED

EXAMPLE = Path(__file__).parents[2] / "config.example.toml"


def test_example_config_loads_with_its_env() -> None:
    env = {
        "COMETAPI_KEY": "sk-example-key-000",
        "RECEIVER_ADMIN_TOKEN": "admin-example-000",
        "RECEIVER_SECRET": "signing-secret-example-0000",
        "ORDERS_WEBHOOK_SECRET": "whsec_c2VjcmV0LWZvci1leGFtcGxl",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T/B/X",
        "PORT": "9999",
    }
    config = load(str(EXAMPLE), env)
    assert config.settings.server.port == 9999
    assert [d.name for d in config.downstreams] == ["orders-service", "team-slack"]
    assert config.downstreams[1].url == env["SLACK_WEBHOOK_URL"]


def test_example_config_documents_every_key() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    for section, model in Settings.model_fields.items():
        if section == "downstream":
            continue
        assert model.annotation is not None
        documented = set(data.get(section, {})) | set(data["advanced"].get(section, {}))
        known = set(model.annotation.model_fields)  # type: ignore[union-attr]
        advanced = set(data["advanced"].get(section, {}))
        assert advanced == ADVANCED.get(section, set()), f"[advanced.{section}] differs"
        assert documented == known, f"[{section}] differs: {documented ^ known}"


def test_example_config_listens_on_loopback_and_reads_no_old_name() -> None:
    env = {
        "COMETAPI_KEY": "sk-example-key-000",
        "RECEIVER_ADMIN_TOKEN": "admin-example-000",
        "RECEIVER_SECRET": "signing-secret-example-0000",
        "ORDERS_WEBHOOK_SECRET": "whsec_c2VjcmV0LWZvci1leGFtcGxl",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T/B/X",
    }
    config = load(str(EXAMPLE), env)
    assert config.settings.server.host == "127.0.0.1"
    assert config.deprecations == ()
