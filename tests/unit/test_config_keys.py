"""Old key names still read, each with one deprecation line naming the new key; unknown keys
name the nearest known one; no pydantic wording reaches the operator."""

from __future__ import annotations

import pytest

from receiver.config import load, parse_settings
from receiver.config.names import ADVANCED, RENAMED
from receiver.kernel.errors import ConfigError

ENV = {
    "COMETAPI_KEY": "sk-example-key-000",
    "RECEIVER_ADMIN_TOKEN": "admin-example-000",
    "RECEIVER_SECRET": "signing-secret-example-0000",
}


def _load(tmp_path: object, text: str) -> object:
    path = tmp_path / "relay.toml"  # type: ignore[operator]
    path.write_text(text)
    return load(str(path), ENV)


@pytest.mark.parametrize(("section", "old"), sorted(RENAMED))
def test_every_old_name_is_read_as_its_new_one(tmp_path: object, section: str, old: str) -> None:
    value = "true" if old == "allow_private_networks" else "70"
    config = _load(tmp_path, f"[{section}]\n{old} = {value}\n")
    new = RENAMED[(section, old)]
    read = getattr(getattr(config.settings, section), new)  # type: ignore[attr-defined]
    assert read == (True if value == "true" else 70)
    where = f"advanced.{section}.{new}" if new in ADVANCED[section] else f"{section}.{new}"
    assert config.deprecations == (  # type: ignore[attr-defined]
        f"config key {section}.{old} is deprecated: use {where}",
    )


@pytest.mark.parametrize(("section", "old"), sorted(RENAMED))
def test_an_old_name_beside_its_new_one_is_refused_naming_both(
    tmp_path: object, section: str, old: str
) -> None:
    new = RENAMED[(section, old)]
    value = "true" if old == "allow_private_networks" else "70"
    if new in ADVANCED[section]:
        text = f"[{section}]\n{old} = {value}\n[advanced.{section}]\n{new} = {value}\n"
    else:
        text = f"[{section}]\n{new} = {value}\n{old} = {value}\n"
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, text)
    said = str(refused.value)
    named = {f"{section}.{old}", f"{section}.{new}", f"advanced.{section}.{new}"}
    assert sum(f" {name} " in said for name in named) == 2 and "same setting" in said, said


def test_an_advanced_key_in_both_places_is_refused(tmp_path: object) -> None:
    text = (
        "[delivery]\nshutdown_grace_seconds = 1\n[advanced.delivery]\nshutdown_grace_seconds = 2\n"
    )
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, text)
    assert "keys delivery.shutdown_grace_seconds and advanced.delivery.shutdown" in str(
        refused.value
    )


def test_an_advanced_key_in_its_plain_section_still_reads(tmp_path: object) -> None:
    config = _load(tmp_path, "[server]\nmax_connections = 9\n")
    assert config.settings.server.max_connections == 9  # type: ignore[attr-defined]
    assert config.deprecations == (  # type: ignore[attr-defined]
        "config key server.max_connections is deprecated: use advanced.server.max_connections",
    )


def test_advanced_keys_add_to_their_section_without_a_word(tmp_path: object) -> None:
    text = "[polling]\ngive_up_after_seconds = 60\n[advanced.polling]\nscan_seconds = 0.5\n"
    config = _load(tmp_path, text)
    polling = config.settings.polling  # type: ignore[attr-defined]
    assert (polling.give_up_after_seconds, polling.scan_seconds) == (60, 0.5)
    assert config.deprecations == ()  # type: ignore[attr-defined]


def test_no_key_name_means_two_things() -> None:
    """A key name is in one section only, unless it means the same everywhere."""
    from receiver.config import Settings

    same_everywhere = {"enabled", "timeout_seconds"}
    seen: dict[str, str] = {}
    for section, field in Settings.model_fields.items():
        if section == "downstream":
            continue
        for key in field.annotation.model_fields:  # type: ignore[union-attr]
            if key in seen and key not in same_everywhere:
                pytest.fail(f"{key} is in [{seen[key]}] and [{section}]")
            seen[key] = section


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"server": {"prot": 1}}, "unknown key `server.prot`; did you mean `port`?"),
        ({"sever": {}}, "unknown key `sever`; did you mean `server`?"),
        (
            {"advanced": {"polling": {"scan_secs": 1}}},
            "unknown key `advanced.polling.scan_secs`; did you mean `scan_seconds`?",
        ),
        (
            {"advanced": {"polling": {"give_up_after_seconds": 1}}},
            "unknown key `advanced.polling.give_up_after_seconds`",
        ),
        ({"advanced": {"pollin": {}}}, "unknown key `advanced.pollin`; did you mean `polling`?"),
        (
            {"downstream": [{"name": "a", "url": "https://a.example", "timout": 1}]},
            "unknown key `downstream.0.timout`; did you mean `timeout`?",
        ),
    ],
)
def test_an_unknown_key_names_the_nearest_known_one(data: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    assert said in str(caught.value)
    assert "Extra inputs" not in str(caught.value)


def test_no_library_prefix_in_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"storage": {"url": "mysql://x"}, "server": {"trusted_proxies": ["x"]}})
    assert "Value error" not in str(caught.value)
    assert "must start with sqlite:///" in str(caught.value)
