"""Reading the configuration: every problem at once, and what $PORT does to the address."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.config import load
from receiver.kernel.errors import ConfigError

ENV = {
    "COMETAPI_KEY": "sk-unit-key-0000",
    "RECEIVER_ADMIN_TOKEN": "admin-unit-token-0000",
    "RECEIVER_SECRET": "signing-unit-secret-0000",
}


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "relay.toml"
    path.write_text(text)
    return str(path)


def problems(path: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env)
    return str(caught.value).split("; ")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        '[delivery]\njitter = 2\n[media]\nstore = "s3"\n'
        '[[downstream]]\nname = "a"\nurl_env = "A_URL"\nsecret_env = "A_SECRET"\n'
        '[[downstream]]\nname = "a"\nurl = "https://x.invalid/"\n',
    )
    env = {**ENV, "RECEIVER_ADMIN_TOKEN": "short", "A_SECRET": "not-whsec"}
    del env["COMETAPI_KEY"]
    assert problems(path, env) == [
        "config key delivery.jitter: Input should be less than or equal to 1",
        'config key media.bucket: must be set when media.store = "s3"',
        "config key upstream.api_key_env: environment variable COMETAPI_KEY is not set",
        "config key server.admin_token_env: the value of RECEIVER_ADMIN_TOKEN must be at least"
        " 16 characters (make one with: openssl rand -base64 32)",
        "config key downstream.name: names must be unique",
        "config key downstream.0.url_env: environment variable A_URL is not set",
        "config key downstream.0.secret_env: the secret in A_SECRET must be whsec_ followed"
        " by base64 (make one with `receiver secret`)",
    ]


def test_a_wrong_section_does_not_also_report_the_defaults_it_fell_back_to(
    tmp_path: Path,
) -> None:
    path = config_file(tmp_path, '[upstream]\napi_key_env = "MY_KEY"\nbogus = 1\n')
    # COMETAPI_KEY (the default name) is unset, MY_KEY set: only the unknown key is wrong.
    env = {**{k: v for k, v in ENV.items() if k != "COMETAPI_KEY"}, "MY_KEY": "sk-unit-key-0000"}
    assert problems(path, env) == ["unknown key `upstream.bogus`"]


@pytest.mark.parametrize(
    ("server", "env", "address"),
    [
        ("", {}, ("127.0.0.1", 8080)),
        ("", {"PORT": "5000"}, ("0.0.0.0", 5000)),  # a platform's router reaches it
        ('host = "127.0.0.1"\nport = 7000\n', {"PORT": "5000"}, ("127.0.0.1", 5000)),
        ('host = "::"\n', {}, ("::", 8080)),
    ],
    ids=["defaults", "port-only", "host-configured", "no-port"],
)
def test_port_sets_the_port_and_every_interface_unless_a_host_is_set(
    tmp_path: Path, server: str, env: dict[str, str], address: tuple[str, int]
) -> None:
    config = load(config_file(tmp_path, f"[server]\n{server}"), {**ENV, **env})
    assert (config.settings.server.host, config.settings.server.port) == address


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://relay:pg-pass-in-userinfo@127.0.0.1:5432/test", "pg-pass-in-userinfo"),
        ("postgresql://127.0.0.1/test?user=relay&password=pg-pass-in-query", "pg-pass-in-query"),
        ("postgresql://127.0.0.1:5432/test", None),
        ("sqlite:///relay.db", None),
    ],
)
def test_the_database_password_is_a_secret(tmp_path: Path, url: str, password: str | None):
    config = load(config_file(tmp_path, f'[storage]\nurl = "{url}"\n'), ENV)
    assert config.settings.storage.password == password
    if password is not None:
        assert password in config.log_secrets()
