"""A downstream's `auth`, `tls` and `proxy`: the rules they are held to, sealed at rest,
masked wherever they are shown, and the TLS context their PEMs make."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from receiver.config import (
    DownstreamChange,
    ManagedDownstreamConfig,
    managed_downstream,
    problems,
    resolve,
)
from receiver.config.downstream import credential_values, credentials_masked, endpoint_auth
from receiver.config.settings import Settings
from receiver.config.show import effective
from receiver.destinations.http import Route, request_of, send
from receiver.destinations.publishing import Message
from receiver.kernel.errors import ConfigError
from receiver.kernel.net.credentials import (
    ClientCredentials,
    TokenSource,
    basic_authorization,
    client_tls,
    tls_problem,
)
from receiver.kernel.net.guard import PrivateAddress
from receiver.kernel.secrets.sealing import Sealer, open_url, seal_url, url_is_current
from tests.certificates import Authority

CA = Authority()
CLIENT = CA.issue("relay client")
OAUTH = {
    "type": "oauth2",
    "token_url": "https://login.example.com/oauth/token",
    "client_id": "relay",
    "client_secret": "client-secret-never-shown-0001",
    "scope": "hooks.write",
}


def _settings(**more: Any) -> ManagedDownstreamConfig:
    return ManagedDownstreamConfig.model_validate(
        {"name": "erp", "url": "https://erp.example.com/hooks", **more}
    )


def _problem(**more: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        _settings(**more)
    return "; ".join(problems(caught.value, "body"))  # as the API and start-up say it


def test_each_kind_of_auth_is_read_and_a_wrong_one_refused_by_name() -> None:
    assert endpoint_auth(_settings(auth=OAUTH)) == endpoint_auth(_settings(auth=dict(OAUTH)))
    basic = _settings(auth={"type": "basic", "username": "u", "password": "p" * 12})
    assert basic.auth is not None and basic.auth.type == "basic"
    assert "token" in _problem(auth={"type": "bearer"})
    assert "'basic', 'bearer', 'oauth2'" in _problem(auth={"type": "digest"})
    assert "Authorization is auth's to set" in _problem(
        auth={"type": "bearer", "token": "t" * 20}, headers={"authorization": "x"}
    )
    assert "not amqp" in _problem(
        auth={"type": "bearer", "token": "t" * 20},
        format="amqp",
        url="amqp://broker.example.com/",
        routing_key="k",
    )
    assert "not pull" in _problem(proxy="http://proxy.example.com:3128", format="pull", url=None)
    assert "proxy" in _problem(proxy="socks5://proxy.example.com:1080")


def test_tls_pems_must_load_together_and_a_ca_alone_is_enough() -> None:
    assert _settings(tls={"ca": CA.cert}).tls is not None
    both = _settings(tls={"client_cert": CLIENT.cert, "client_key": CLIENT.key, "ca": CA.cert})
    assert both.tls is not None and both.tls.client_key == CLIENT.key
    assert tls_problem(CLIENT.cert, None, None) == "client_cert and client_key go together"
    other = CA.issue("someone else")
    assert "does not load" in str(tls_problem(CLIENT.cert, other.key, None))
    assert "ca is no PEM certificate" in str(tls_problem(None, None, "not a pem"))
    assert "ca is no PEM certificate" in str(tls_problem(None, None, "not ASCII: \u00d5"))
    problem = _problem(tls={"client_cert": CLIENT.cert, "client_key": "garbage"})
    assert "garbage" not in problem  # never quoted: a key is a secret
    context = client_tls(CLIENT.cert, CLIENT.key, CA.cert)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", CA.name),),)]


def test_credentials_are_sealed_at_rest_and_open_again() -> None:
    sealer = Sealer(["relay-secret-after-rotation-00002"])
    spec = _settings(
        auth=OAUTH, tls={"client_cert": CLIENT.cert, "client_key": CLIENT.key}
    ).model_dump(exclude={"name"}, exclude_none=True)
    stored = seal_url(sealer, spec, "erp")
    assert "auth" not in stored and "tls" not in stored
    assert OAUTH["client_secret"] not in str(stored) and "PRIVATE KEY" not in str(stored)
    assert url_is_current(sealer, stored)
    # After the relay's own secret rotates, they are sealed again under the new key.
    assert not url_is_current(
        Sealer(["relay-secret-after-rotation-00002", "next-0003-secret"]), stored
    )
    assert open_url(sealer, stored, "erp") == {k: v for k, v in spec.items() if k != "headers"}


def test_the_secrets_are_masked_wherever_shown_and_listed_for_the_logs() -> None:
    settings = _settings(
        auth=OAUTH,
        tls={"client_cert": CLIENT.cert, "client_key": CLIENT.key},
        proxy="http://egress:proxy-password-0001@proxy.example.com:3128",
    )
    d = managed_downstream(settings, "whsec_" + "A" * 32, None, None)
    shown = credentials_masked(d)
    assert shown["auth"] == {**OAUTH, "client_secret": "***"}
    assert shown["tls"] == {"client_cert": CLIENT.cert, "client_key": "***"}
    assert shown["proxy"] == "http://egress:***@proxy.example.com:3128"
    assert set(credential_values(d)) >= {
        OAUTH["client_secret"],
        CLIENT.key,
        "proxy-password-0001",
    }
    file = Settings.model_validate(
        {
            "downstream": [
                {
                    "name": "erp",
                    "url": "https://erp.example.com/hooks",
                    "auth": {"type": "basic", "username": "relay", "password": "pw-0001-secret"},
                    "tls": {"client_cert": CLIENT.cert, "client_key": CLIENT.key},
                }
            ]
        }
    )
    [listed] = effective(file)["downstream"]
    assert listed["auth"] == {"type": "basic", "username": "relay", "password": "********"}
    assert listed["tls"]["client_key"] == "********"
    assert "pw-0001-secret" not in str(effective(file))


def test_a_change_takes_credentials_and_a_masked_secret_passes_its_rules() -> None:
    change = DownstreamChange.model_validate(
        {"auth": {**OAUTH, "client_secret": "***"}, "tls": {"ca": CA.cert, "client_key": "***"}}
    )
    assert change.model_dump(exclude_unset=True)["auth"]["client_secret"] == "***"
    assert DownstreamChange.model_validate({"auth": None}).model_dump(exclude_unset=True) == {
        "auth": None
    }


def test_basic_authorization_is_rfc_7617() -> None:
    assert basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


def _way_out(**settings: Any) -> Any:
    return managed_downstream(_settings(**settings), "whsec_" + "A" * 32, None, None)


@pytest.mark.parametrize(
    ("url", "token_url"),
    [
        ("https://127.0.0.1/hooks", None),
        ("https://localhost/hooks", None),
        ("https://93.184.216.34/hooks", "https://10.0.0.7/oauth/token"),
    ],
    ids=["loopback-target", "local-name", "private-token-endpoint"],
)
def test_through_its_own_proxy_a_target_from_the_api_is_judged_before_anything_goes(
    url: str, token_url: str | None
) -> None:
    """Through a proxy the relay never resolves the target itself: the guard judges it (and
    the token endpoint) before the request, so nothing reaches the proxy."""
    auth = {**OAUTH, "token_url": token_url} if token_url else None
    d = _way_out(url=url, auth=auth, proxy="http://proxy.example.com:3128")

    async def sent() -> None:
        async with aiohttp.ClientSession() as session:  # never connects: refused first
            tokens = TokenSource(ClientCredentials(str(token_url), "relay", "s")) if auth else None
            route = Route(lambda: session, d.proxy, judged=True, tokens=tokens)
            request = request_of(Message("msg_1", b"{}", {}, {}), d.url, route.proxy)
            await send(request, route)

    with pytest.raises(PrivateAddress):
        asyncio.run(sent())


def test_the_config_files_secrets_may_come_from_the_environment(tmp_path: Any) -> None:
    """`auth_secret_env` and `client_key_env`: the file holds neither secret; start-up reads
    them, checks the key against its certificate, and names what is wrong."""
    downstream = {
        "name": "erp",
        "url": "https://erp.example.com/hooks",
        "auth": {k: v for k, v in OAUTH.items() if k != "client_secret"},
        "auth_secret_env": "ERP_CLIENT_SECRET",
        "tls": {"client_cert": CLIENT.cert},
        "client_key_env": "ERP_CLIENT_KEY",
    }
    settings = Settings.model_validate({"downstream": [downstream]})
    env = {"ERP_CLIENT_SECRET": str(OAUTH["client_secret"]), "ERP_CLIENT_KEY": CLIENT.key}
    [d] = _resolved(settings, env).downstreams
    assert endpoint_auth(d) == endpoint_auth(_settings(auth=OAUTH))
    assert d.tls == {"client_cert": CLIENT.cert, "client_key": CLIENT.key.strip(), "ca": None}
    assert set(effective(settings)["downstream"][0]["auth"].values()) >= {"********"}
    with pytest.raises(ConfigError) as refused:
        _resolved(settings, {**env, "ERP_CLIENT_KEY": CA.issue("another").key})
    assert "downstream.0.client_key_env: the value of ERP_CLIENT_KEY" in str(refused.value)
    with pytest.raises(ConfigError, match="ERP_CLIENT_SECRET is not set"):
        _resolved(settings, {"ERP_CLIENT_KEY": CLIENT.key})


def _resolved(settings: Settings, env: dict[str, str]) -> Any:
    base = {
        "COMETAPI_KEY": "k" * 20,
        "RECEIVER_ADMIN_TOKEN": "a" * 20,
        "RECEIVER_SECRET": "s" * 20,
    }
    return resolve(settings, {**base, **env})
