"""Every key from the environment: `RECEIVER__<SECTION>__<KEY>` over the file, names derived
from the settings model, one line with the nearest name for a variable naming no key, and
`receiver config show` with nothing secret in it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from receiver.cli.main import main
from receiver.config import Settings, effective_settings, load, read_settings
from receiver.config.environ import PREFIX, overlay, places
from receiver.config.names import ADVANCED
from receiver.kernel.errors import ConfigError

pytestmark = pytest.mark.unit

SECRETS = {
    "COMETAPI_KEY": "sk-unit-key-0000",
    "RECEIVER_ADMIN_TOKEN": "admin-unit-token-0000",
    "RECEIVER_SECRET": "signing-unit-secret-0000",
}


def test_every_key_of_the_model_has_its_variable() -> None:
    known = places()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            assert known[f"{PREFIX}{section.upper()}"].is_json  # the downstream array
            continue
        for key in model.model_fields:
            middle = f"ADVANCED__{section}" if key in ADVANCED.get(section, ()) else section
            assert f"{PREFIX}{middle.upper()}__{key.upper()}" in known


def test_the_issue_s_examples_and_values_of_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text('[storage]\nurl = "sqlite:///file.db"\n[advanced.polling]\nscan_seconds = 9\n')
    env = {
        "RECEIVER__STORAGE__URL": "sqlite:///env.db",
        "RECEIVER__ADVANCED__POLLING__SCAN_SECONDS": "2.5",
        "RECEIVER__SERVER__TRUSTED_PROXIES": '["10.0.0.0/8"]',
        "RECEIVER__DELIVERY__IN_PROCESS": "false",
        "RECEIVER__SERVER__PORT": "9001",
        "RECEIVER__DOWNSTREAM": '[{"name": "hook", "url": "https://example.com/h"}]',
    }
    settings = read_settings(path, env)
    assert settings.storage.url == "sqlite:///env.db"  # over the file
    assert settings.polling.scan_seconds == 2.5
    assert settings.server.trusted_proxies == ["10.0.0.0/8"]
    assert settings.delivery.in_process is False
    assert settings.server.port == 9001
    assert [d.name for d in settings.downstream] == ["hook"]
    config = load(str(path), {**env, **SECRETS})
    assert config.settings == settings
    assert read_settings(path, {}).polling.scan_seconds == 9  # the file alone


def test_a_container_needs_no_file() -> None:
    env = {**SECRETS, "RECEIVER__STORAGE__URL": "sqlite:///data/relay.db"}
    assert load(None, env).settings.storage.url == "sqlite:///data/relay.db"


def test_a_variable_naming_no_key_says_the_nearest() -> None:
    env = {
        **SECRETS,
        "RECEIVER__STORAGE__URLL": "sqlite:///x.db",
        "RECEIVER__POLLING__SCAN_SECONDS": "1",
        "RECEIVER__NOTHING_LIKE_IT": "1",
    }
    with pytest.raises(ConfigError) as caught:
        load(None, env)
    message = str(caught.value)
    assert "\n" not in message
    assert (
        "environment variable RECEIVER__STORAGE__URLL names no config key;"
        " did you mean RECEIVER__STORAGE__URL?" in message
    )
    assert "did you mean RECEIVER__ADVANCED__POLLING__SCAN_SECONDS?" in message
    assert "environment variable RECEIVER__NOTHING_LIKE_IT names no config key;" in message


def test_a_wrong_value_names_its_variable_and_never_itself() -> None:
    env = {
        **SECRETS,
        "RECEIVER__STORAGE__URL": "mysql://user:pw-secret-0000@db/x",
        "RECEIVER__SERVER__TRUSTED_PROXIES": "10.0.0.0/8",
    }
    with pytest.raises(ConfigError) as caught:
        load(None, env)
    message = str(caught.value)
    assert "config key storage.url ($RECEIVER__STORAGE__URL): must start with" in message
    assert "environment variable RECEIVER__SERVER__TRUSTED_PROXIES: a list or table" in message
    assert "pw-secret-0000" not in message


def test_overlay_leaves_the_file_s_data_alone() -> None:
    data = {"storage": {"url": "sqlite:///a.db"}}
    given = overlay(data, {"RECEIVER__STORAGE__URL": "sqlite:///b.db", "OTHER": "x"})
    assert data == {"storage": {"url": "sqlite:///a.db"}}
    assert given.data == {"storage": {"url": "sqlite:///b.db"}}
    assert given.given == {"storage.url": "RECEIVER__STORAGE__URL"}


def test_port_still_wins_in_the_effective_settings() -> None:
    env = {"RECEIVER__SERVER__PORT": "9001", "PORT": "7000"}
    assert effective_settings(None, env).server.port == 7000


def test_config_show_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RECEIVER_CONFIG", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("RECEIVER__STORAGE__URL", "postgresql://relay:pg-secret-0000@db/relay")
    monkeypatch.setenv("RECEIVER__ADVANCED__POLLING__SCAN_SECONDS", "2.5")
    proxy = "http://egress:proxy-secret-0000@proxy.internal:3128"
    monkeypatch.setenv("RECEIVER__DELIVERY__PROXY", proxy)
    chat = '{"name": "chat", "format": "slack", "url": "https://hooks.example/T0/slack-secret"}'
    keyed = (
        '{"name": "crm", "url": "https://crm.example/hook",'
        ' "headers": {"Authorization": "Bearer header-secret-0000"}}'
    )
    log = (
        '{"name": "log", "format": "kafka", "sasl_mechanism": "SCRAM-SHA-512",'
        ' "url": "kafkas://relay:kafka-secret-0000@k1:9093,k2:9093/runway.events"}'
    )
    monkeypatch.setenv("RECEIVER__DOWNSTREAM", f"[{chat}, {keyed}, {log}]")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    out = result.output
    for secret in [
        "pg-secret-0000",
        "slack-secret",
        "header-secret-0000",
        "kafka-secret-0000",
        "proxy-secret-0000",
        *SECRETS.values(),
    ]:
        assert secret not in out
    # A Kafka URL's servers and topic are shown, its user part masked.
    assert 'url = "kafkas://********@k1:9093,k2:9093/runway.events"' in out
    assert 'url = "postgresql://********@db/relay"' in out  # the whole user part
    assert 'proxy = "http://********@proxy.internal:3128"' in out
    assert "[advanced.polling]" in out and "scan_seconds = 2.5" in out
    assert "# $RECEIVER_ADMIN_TOKEN: set" in out
    assert "# $RECEIVER_WEBHOOK_SECRET: NOT SET" in out
    shown = tomllib.loads(out)
    assert shown["downstream"][0]["name"] == "chat"
    assert shown["downstream"][1]["headers"] == {"Authorization": "********"}


def test_config_show_refuses_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECEIVER__SERVER__PROT", "1")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "did you mean RECEIVER__SERVER__PORT?" in result.output
