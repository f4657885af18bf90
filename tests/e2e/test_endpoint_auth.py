"""A downstream's `auth`, `tls` and `proxy` against real servers on loopback, on one relay:
an HTTPS endpoint that requires a client certificate (certificates made here), behind an
OAuth2 token endpoint that counts its requests (a burst of deliveries makes one token
request, a 401 one more), a private CA trusted alone, HTTP Basic through a proxy that
records what passes, and mutual TLS through that proxy's tunnel (CONNECT); set through the
config file, the API and the command line, shown masked, and the test event sent as a
delivery is, saying what it sent."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from receiver.kernel.net.credentials import ClientCredentials, TokenSource, client_tls
from tests.certificates import Authority, Pair
from tests.conftest import MakeRelay, webhook
from tests.e2e.test_egress_proxy import RecordingProxy
from tests.harness import Sink, image_to_video, settled, wait_for

CLIENT_SECRET = "oauth-client-secret-0001-never-shown"
BASIC_PASSWORD = "basic-password-0001-never-shown"
API_KEY = "static-api-key-0001-never-shown"


class SecureEndpoint:
    """Two HTTPS sites of one app on loopback, their certificate signed by a private CA:
    `mtls` requires a client certificate that CA signed, `plain` asks for none. `/token` is
    an OAuth2 token endpoint (client credentials) that counts its requests, each answered
    slowly so that a burst of deliveries would ask it together; `/hook` takes only the
    tokens it issued that `revoke_current` has not refused."""

    def __init__(self, ca: Authority) -> None:
        self.tokens: list[dict[str, str]] = []  # each token request's form
        self.hits: list[dict[str, Any]] = []
        self.revoked: set[str] = set()
        server = ca.issue("127.0.0.1", server=True)
        self._loop = asyncio.new_event_loop()
        self._contexts = (self._context(server, ca, True), self._context(server, ca, False))
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait()

    @staticmethod
    def _context(server: Pair, ca: Authority, require_client: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert)
        context.load_cert_chain(*_files(server))
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
        return context

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/{path:.*}", self._hook)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        ports = []
        for context in self._contexts:
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
            self._loop.run_until_complete(site.start())
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.mtls, self.plain = (f"https://127.0.0.1:{port}" for port in ports)
        ready.set()
        self._loop.run_forever()

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.tokens.append({k: str(v) for k, v in form.items()})
        await asyncio.sleep(0.3)  # a burst's deliveries all wait on this one
        if form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"token-{len(self.tokens)}-of-the-endpoint"
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        )

    async def _hook(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        self.hits.append(
            {
                "path": request.path,
                "authorization": authorization,
                "client": dict(x[0] for x in peer["subject"]) if peer else None,
                "body": await request.read(),
            }
        )
        issued = {f"Bearer token-{n}-of-the-endpoint" for n in range(1, len(self.tokens) + 1)}
        if authorization.startswith("Bearer ") and (
            authorization not in issued or authorization[7:] in self.revoked
        ):
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response({"ok": True})

    def revoke_current(self) -> None:
        self.revoked.add(f"token-{len(self.tokens)}-of-the-endpoint")

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


_TEMP: list[str] = []


def _files(pair: Pair) -> tuple[str, str]:
    """The server's own PEMs as files, for its ssl context (the relay's are never files)."""
    import tempfile

    paths = []
    for text in (pair.cert, pair.key):
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
            f.write(text)
            paths.append(f.name)
    _TEMP.extend(paths)
    return paths[0], paths[1]


@pytest.fixture
def secure() -> Iterator[tuple[Authority, SecureEndpoint]]:
    ca = Authority()
    endpoint = SecureEndpoint(ca)
    yield ca, endpoint
    endpoint.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recording = RecordingProxy()
    yield recording
    recording.close()


def _delivered(relay: Any, task_id: str, name: str) -> dict[str, Any]:
    done = relay.wait_task(task_id, settled)
    [mine] = [d for d in done["deliveries"] if d["downstream"] == name]
    return mine


def test_auth_tls_and_a_proxy_per_downstream_on_real_servers(
    make_relay: MakeRelay,
    sink: Sink,
    secure: tuple[Authority, SecureEndpoint],
    proxy: RecordingProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca, endpoint = secure
    client = ca.issue("relay client")
    oauth = {
        "type": "oauth2",
        "token_url": f"{endpoint.mtls}/token",
        "client_id": "relay",
        "client_secret": CLIENT_SECRET,
        "scope": "hooks.write",
        "audience": "https://erp.example",
    }
    tls = {"client_cert": client.cert, "client_key": client.key, "ca": ca.cert}
    erp = webhook(sink, "erp", url=f"{endpoint.mtls}/erp", auth=oauth, tls=tls, timeout=5.0)
    # Taken by no task (none names its channel): its test events alone.
    acme = webhook(
        sink,
        "acme",
        transform='{"body": {"id": event.data.task_id, "test": event.data.test},'
        ' "path": "/items/" + event.data.task_id}',
        headers={"X-Api-Key": API_KEY},
        filter='event.type != "task.failed"',
        channels=["tests-only"],
    )
    relay = make_relay([erp, acme], delivery={"allow_private_networks": True})

    # A burst: six tasks end together, and their six deliveries share one token request.
    ids = [relay.submit(**image_to_video(promptText=f"burst {n}")).json()["id"] for n in range(6)]
    states = [_delivered(relay, task_id, "erp")["state"] for task_id in ids]
    assert states == ["succeeded"] * 6
    assert len(endpoint.tokens) == 1, endpoint.tokens
    assert endpoint.tokens[0] == {
        "grant_type": "client_credentials",
        "client_id": "relay",
        "client_secret": CLIENT_SECRET,
        "scope": "hooks.write",
        "audience": "https://erp.example",
    }
    erp_hits = [h for h in endpoint.hits if h["path"] == "/erp"]
    assert len(erp_hits) == 6 and {h["client"]["commonName"] for h in erp_hits} == {"relay client"}
    assert {h["authorization"] for h in erp_hits} == {"Bearer token-1-of-the-endpoint"}

    # The endpoint refuses the token: each delivery is sent again once, and three of them
    # make one new token request.
    endpoint.revoke_current()
    ids = [relay.submit(**image_to_video(promptText=f"after {n}")).json()["id"] for n in range(3)]
    assert [_delivered(relay, t, "erp")["state"] for t in ids] == ["succeeded"] * 3
    assert len(endpoint.tokens) == 2, endpoint.tokens

    # The test event goes the same way, with the same token, and says what it sent.
    tested = relay.api.post("/v1/downstreams/erp/test", json={"type": "task.succeeded"}).json()
    assert tested["status"] == 200 and tested["error"] is None, tested
    assert len(endpoint.tokens) == 2
    sent = tested["sent"]
    assert sent["method"] == "POST" and sent["url"] == f"{endpoint.mtls}/erp"
    assert sent["headers"]["Authorization"] == "***" and sent["headers"]["webhook-test"] == "true"
    assert endpoint.hits[-1]["body"].decode() == sent["body"]

    # Shown masked, by the API and by `config show`.
    shown = relay.api.get("/v1/downstreams/erp").json()
    assert shown["auth"] == {**oauth, "client_secret": "***"}
    assert shown["tls"] == {**tls, "client_key": "***"}
    listed = relay.cli("config", "show", "--config", str(relay.config_path))
    assert listed.returncode == 0, listed.stderr
    assert 'client_secret = "********"' in listed.stdout and CLIENT_SECRET not in listed.stdout
    assert 'client_key = "********"' in listed.stdout and "PRIVATE KEY" not in listed.stdout

    # Issue 65: the test event is the delivery the transform, the URL it makes and the
    # static headers make, and says so; a filter that refuses it sends nothing.
    tested = relay.api.post("/v1/downstreams/acme/test", json={"type": "task.succeeded"}).json()
    assert tested["status"] == 200, tested
    [hit] = wait_for(lambda: sink.accepted() or None)
    sent = tested["sent"]
    assert hit["path"].startswith("/acme/items/") and sent["url"] == f"{sink.url}{hit['path']}"
    assert hit["headers"]["x-api-key"] == API_KEY and sent["headers"]["X-Api-Key"] == "***"
    assert hit["body"] == sent["body"] and '"test":true' in hit["body"]
    assert hit["headers"]["webhook-signature"] == sent["headers"]["webhook-signature"]
    assert API_KEY not in str(tested)
    refused = relay.api.post("/v1/downstreams/acme/test", json={"type": "task.failed"}).json()
    assert refused["sent"] is None and refused["status"] is None
    assert refused["error"].startswith("not sent, as a real delivery would not be"), refused
    assert len(sink.received()) == 1

    # Through the API: HTTP Basic through the downstream's own proxy, sealed at rest.
    basic = {"type": "basic", "username": "relay", "password": BASIC_PASSWORD}
    made = relay.api.post(
        "/v1/downstreams",
        json={
            "name": "billing",
            "url": f"{sink.url}/billing",
            "events": ["succeeded"],
            "auth": basic,
            "proxy": proxy.url,
            "timeout": 2.0,
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["auth"] == {**basic, "password": "***"}
    assert made.json()["proxy"] == proxy.url
    task = relay.submit(**image_to_video(promptText="billed")).json()["id"]
    assert _delivered(relay, task, "billing")["state"] == "succeeded"
    [hit] = wait_for(lambda: sink.accepted("/billing") or None)
    assert (
        hit["headers"]["authorization"]
        == "Basic cmVsYXk6YmFzaWMtcGFzc3dvcmQtMDAwMS1uZXZlci1zaG93bg=="
    )
    assert [s["target"] for s in proxy.seen] == [f"{sink.url}/billing"]

    # A change that sends the secret back masked keeps it; a new one replaces it.
    kept = relay.api.patch(
        "/v1/downstreams/billing", json={"auth": {**basic, "password": "***"}, "proxy": None}
    )
    assert kept.status_code == 200 and kept.json().get("proxy") is None, kept.text
    again = relay.api.post("/v1/downstreams/billing/test", json={"type": "task.failed"}).json()
    assert again["status"] == 200, again
    assert (
        sink.received("/billing")[-1]["headers"]["authorization"] == hit["headers"]["authorization"]
    )
    assert len(proxy.seen) == 1  # the proxy went with the change

    # TLS: a private CA trusted alone reaches a server the public CAs do not know; without
    # it the server's certificate is refused; without a client certificate, the server
    # that requires one does not let the request through.
    for name, url, settings in (
        ("private-ca", f"{endpoint.plain}/ca", {"tls": {"ca": ca.cert}}),
        ("public-cas", f"{endpoint.plain}/ca", {}),
        ("no-client-cert", f"{endpoint.mtls}/ca", {"tls": {"ca": ca.cert}}),
    ):
        body = {"name": name, "url": url, "channels": ["tests-only"], **settings}
        assert relay.api.post("/v1/downstreams", json=body).status_code == 201
    answers = {
        name: relay.api.post(f"/v1/downstreams/{name}/test", json={"type": "relay.test"}).json()
        for name in ("private-ca", "public-cas", "no-client-cert")
    }
    assert answers["private-ca"]["status"] == 200, answers
    assert answers["public-cas"]["error"] == "the server's TLS certificate was refused", answers
    assert answers["no-client-cert"]["status"] is None, answers
    bad = relay.api.post(
        "/v1/downstreams",
        json={"name": "bad", "url": f"{sink.url}/bad", "tls": {"client_cert": client.cert}},
    )
    assert bad.status_code == 422 and "client_cert and client_key go together" in bad.text

    # A wrong client secret: the attempt fails saying what the token endpoint said.
    wrong = relay.api.post(
        "/v1/downstreams",
        json={
            "name": "wrong",
            "url": f"{endpoint.mtls}/erp",
            "channels": ["tests-only"],
            "auth": {**oauth, "client_secret": "not-the-secret-0001"},
            "tls": tls,
        },
    ).json()
    assert wrong["auth"]["client_secret"] == "***"
    refused = relay.api.post("/v1/downstreams/wrong/test", json={"type": "relay.test"}).json()
    assert refused["error"] == "the token endpoint answered HTTP 401 (invalid_client): no token"
    # The right secret given, the client key sent back as shown (kept): it goes through.
    fixed = relay.api.patch(
        "/v1/downstreams/wrong", json={"auth": oauth, "tls": {**tls, "client_key": "***"}}
    )
    assert fixed.status_code == 200 and fixed.json()["tls"]["client_key"] == "***", fixed.text
    mended = relay.api.post("/v1/downstreams/wrong/test", json={"type": "relay.test"}).json()
    assert mended["status"] == 200, mended
    # The secret kept as shown may not follow a change of token endpoint: it would be sent
    # to one the caller chose without ever having read it.
    moved = {**oauth, "token_url": "https://tokens.example.com/t", "client_secret": "***"}
    refused = relay.api.patch("/v1/downstreams/wrong", json={"auth": moved})
    assert refused.status_code == 422, refused.text
    assert "client_secret: give it again" in refused.text

    # The command line makes one: OAuth2 with its client secret from the environment, mutual
    # TLS from PEM files, through the proxy, which tunnels HTTPS (CONNECT) and sees only the
    # host and port; the client certificate reaches the endpoint through the tunnel.
    pems = {"cert": client.cert, "key": client.key, "ca": ca.cert}
    for what, pem in pems.items():
        (tmp_path / f"{what}.pem").write_text(pem)
    monkeypatch.setenv("VAULT_CLIENT_SECRET", CLIENT_SECRET)
    before = len(proxy.seen)
    made = relay.cli(
        *("downstreams", "create", "vault", f"{endpoint.mtls}/vault", "--channel", "vault"),
        *("--auth", "oauth2", "--token-url", f"{endpoint.mtls}/token", "--client-id", "relay"),
        *("--client-secret-env", "VAULT_CLIENT_SECRET", "--scope", "vault.write"),
        *("--tls-client-cert", str(tmp_path / "cert.pem"), "--tls-client-key"),
        *(str(tmp_path / "key.pem"), "--tls-ca", str(tmp_path / "ca.pem"), "--proxy", proxy.url),
    )
    assert made.returncode == 0, made.stderr
    assert CLIENT_SECRET not in made.stdout + made.stderr
    shown = relay.api.get("/v1/downstreams/vault").json()
    assert shown["auth"] == {
        "type": "oauth2",
        "token_url": oauth["token_url"],
        "client_id": "relay",
        "client_secret": "***",
        "scope": "vault.write",
    }
    assert shown["tls"] == {**tls, "client_key": "***"} and shown["proxy"] == proxy.url
    task = relay.submit(**image_to_video(promptText="vaulted"), channels=["vault"]).json()["id"]
    assert _delivered(relay, task, "vault")["state"] == "succeeded"
    port = endpoint.mtls.rsplit(":", 1)[1]
    # The token request and the delivery, each through a tunnel to the endpoint.
    tunnels = {(s["method"], s["target"]) for s in proxy.seen[before:]}
    assert tunnels == {("CONNECT", f"127.0.0.1:{port}")}, proxy.seen[before:]
    assert endpoint.tokens[-1]["client_secret"] == CLIENT_SECRET
    [vault] = [h for h in endpoint.hits if h["path"] == "/vault"]
    assert vault["client"]["commonName"] == "relay client"
    assert vault["authorization"] == f"Bearer token-{len(endpoint.tokens)}-of-the-endpoint"

    # A change of the scope alone keeps the secret the relay holds; --no-proxy goes direct.
    changed = relay.cli("downstreams", "change", "vault", "--scope", "vault.read", "--no-proxy")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "vault: changed (auth, proxy)"
    tunnelled = len(proxy.seen)
    tested = relay.api.post("/v1/downstreams/vault/test", json={"type": "relay.test"}).json()
    assert tested["status"] == 200, tested
    assert endpoint.tokens[-1]["scope"] == "vault.read"
    assert endpoint.tokens[-1]["client_secret"] == CLIENT_SECRET
    assert len(proxy.seen) == tunnelled and endpoint.hits[-1]["path"] == "/vault"
    # A proxy's password is no value for the command line: refused, and not repeated.
    refused = relay.cli(
        *("downstreams", "change", "vault", "--proxy"),
        f"http://relay:{BASIC_PASSWORD}@127.0.0.1:1",
    )
    assert refused.returncode == 2 and "--proxy-env" in refused.stderr
    assert BASIC_PASSWORD not in refused.stderr

    log = relay.log()
    for secret in (CLIENT_SECRET, BASIC_PASSWORD, "token-1-of-the-endpoint", client.key[40:80]):
        assert secret not in log


def test_fifty_deliveries_at_once_share_one_token_request_and_one_refresh(
    secure: tuple[Authority, SecureEndpoint],
) -> None:
    """The token source itself, against the token endpoint, with no relay: fifty callers at
    the same instant (the relay's burst, without the timing of tasks ending), then fifty
    that saw the token refused."""
    ca, endpoint = secure
    client = ca.issue("relay client")
    credentials = ClientCredentials(f"{endpoint.mtls}/token", "relay", CLIENT_SECRET)

    async def burst() -> tuple[set[str], set[str]]:
        source = TokenSource(credentials)
        context = client_tls(client.cert, client.key, ca.cert)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as s:

            async def judge(url: str) -> None:
                assert url == credentials.token_url

            first = await asyncio.gather(*(source.token(s, None, judge) for _ in range(50)))
            for token in first:
                source.refused(token)  # each of the fifty saw a 401
            then = await asyncio.gather(*(source.token(s, None, judge) for _ in range(50)))
        return set(first), set(then)

    first, then = asyncio.run(burst())
    assert first == {"token-1-of-the-endpoint"} and then == {"token-2-of-the-endpoint"}
    assert len(endpoint.tokens) == 2
