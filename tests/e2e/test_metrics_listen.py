"""Where /metrics listens: `server.metrics_listen` read and refused in words, the public
port and any address but loopback only with a token, and a taken or shared port refused
before anything starts."""

from __future__ import annotations

import socket

import pytest

from receiver.app import server
from receiver.config.load import parse_settings
from receiver.config.sections import ServerConfig
from receiver.kernel.errors import ConfigError


def test_the_listen_address_is_an_ip_and_a_port() -> None:
    assert ServerConfig().metrics_address == ("127.0.0.1", 9464)
    assert ServerConfig(metrics_listen="[::1]:0").metrics_address == ("::1", 0)
    assert ServerConfig(metrics_listen="").metrics_address is None
    for wrong in ("localhost:9464", "127.0.0.1", "127.0.0.1:65536", ":9464"):
        with pytest.raises(ConfigError, match="must be an IP address and a port"):
            parse_settings({"server": {"metrics_listen": wrong}})


def test_the_public_port_serves_metrics_only_with_a_token() -> None:
    with pytest.raises(ConfigError, match="metrics_public = true needs metrics_token_env"):
        parse_settings({"server": {"metrics_public": True}})
    settings = parse_settings(
        {"server": {"metrics_public": True, "metrics_token_env": "METRICS_TOKEN"}}
    )
    assert settings.server.metrics_public


def test_metrics_beyond_loopback_only_with_a_token() -> None:
    for address in ("0.0.0.0:9464", "[::]:9464", "10.1.2.3:9464", "[fd00::1]:0"):
        with pytest.raises(ConfigError, match=r"needs metrics_token_env: /metrics names every"):
            parse_settings({"server": {"metrics_listen": address}})
        settings = parse_settings(
            {"server": {"metrics_listen": address, "metrics_token_env": "METRICS_TOKEN"}}
        )
        assert settings.server.metrics_listen == address
    for loopback in ("127.0.0.1:9464", "127.0.0.2:0", "[::1]:9464", ""):
        assert (
            parse_settings({"server": {"metrics_listen": loopback}}).server.metrics_token_env == ""
        )


def test_a_taken_or_shared_port_is_refused_in_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = ServerConfig(port=0, metrics_listen=f"127.0.0.1:{port}")
        with pytest.raises(ConfigError) as refused:
            server.bind(config)
        assert str(refused.value) == (
            f"config key server.metrics_listen: port {port} is already in use (another relay"
            " on this host? give each its own: RECEIVER__SERVER__METRICS_LISTEN=127.0.0.1:<a"
            " free port>, or an empty value for no /metrics listener)"
        )
    with pytest.raises(ConfigError, match="is the public port"):
        server.bind(ServerConfig(port=port, metrics_listen=f"127.0.0.1:{port}"))
    bound = server.bind(ServerConfig(port=0, metrics_listen="127.0.0.1:0"))
    try:
        assert bound.metrics is not None
        assert bound.public.getsockname()[1] != bound.metrics.getsockname()[1]
    finally:
        bound.public.close()
        bound.metrics.close()
