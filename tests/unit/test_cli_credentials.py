"""`receiver downstreams create|change`'s auth, tls and proxy options as the API's fields:
secrets from a named variable, a prompt or stdin, never from a value on the command line;
a change made over the downstream's current settings, as the API shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from receiver.cli.credentials import credential_options, credential_settings, read_secret

SECRET = "s3cret-never-on-the-command-line"


class Secrets:
    """Reads each secret asked for (what, variable) as SECRET, and keeps the asks."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    def __call__(self, what: str, variable: str | None) -> str:
        self.asked.append((what, variable))
        return SECRET


@click.command()
@credential_options
def _every(**options: Any) -> Any:
    return options  # as click passes them when none is given


def _options(**given: Any) -> dict[str, Any]:
    """Every option as click passes it when not given, then `given`, and one of another
    group (left for it)."""
    passed = _every.main([], standalone_mode=False)
    return {**passed, "timeout": 5, **given}


def _exit_message(capsys: pytest.CaptureFixture[str], call: Any) -> str:
    with pytest.raises(SystemExit) as ended:
        call()
    assert ended.value.code == 2
    return capsys.readouterr().err


def test_a_new_downstreams_auth_takes_its_secret_from_the_reader() -> None:
    read = Secrets()
    options = _options(
        auth="oauth2",
        token_url="https://login.example.com/token",
        client_id="relay",
        client_secret_env="ERP_SECRET",
        scope="hooks.write",
    )
    body = credential_settings(options, {}, read)
    assert body == {
        "auth": {
            "type": "oauth2",
            "token_url": "https://login.example.com/token",
            "client_id": "relay",
            "scope": "hooks.write",
            "client_secret": SECRET,
        }
    }
    assert read.asked == [("oauth2 client secret", "ERP_SECRET")]
    assert options == {"timeout": 5}  # what the other options build is left

    read = Secrets()
    basic = credential_settings(_options(auth="basic", username="relay"), {}, read)
    assert basic == {"auth": {"type": "basic", "username": "relay", "password": SECRET}}
    assert read.asked == [("basic password", None)]  # none named: prompted


def test_a_change_keeps_what_it_does_not_give_and_the_secret_of_the_same_kind() -> None:
    current = {
        "auth": {"type": "oauth2", "token_url": "https://t.example", "client_id": "a"}
        | {"client_secret": "***", "scope": "old"},
        "tls": {"client_cert": "CERT", "client_key": "***", "ca": "CA"},
    }
    read = Secrets()
    body = credential_settings(_options(scope="new", audience="erp"), current, read)
    assert body["auth"] == {**current["auth"], "scope": "new", "audience": "erp"}
    assert read.asked == []  # the secret sent back masked: the relay keeps it
    dropped = credential_settings(_options(scope=""), current, read)
    assert "scope" not in dropped["auth"]

    # Another kind: its fields from the options, and a secret asked for.
    bearer = credential_settings(_options(auth="bearer", token_env="TOKEN"), current, read)
    assert bearer == {"auth": {"type": "bearer", "token": SECRET}}

    removed = credential_settings(_options(no_auth=True, no_tls=True, no_proxy=True), current)
    assert removed == {"auth": None, "tls": None, "proxy": None}


def test_pem_files_are_read_over_the_current_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("NEW CA")
    current = {"tls": {"client_cert": "CERT", "client_key": "***", "ca": "OLD CA"}}
    body = credential_settings(_options(tls_ca=str(ca)), current)
    assert body == {"tls": {"client_cert": "CERT", "client_key": "***", "ca": "NEW CA"}}
    key = tmp_path / "key.pem"
    key.write_text("KEY")
    made = credential_settings(_options(tls_client_cert=str(ca), tls_client_key=str(key)), {})
    assert made == {"tls": {"client_cert": "NEW CA", "client_key": "KEY"}}


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"username": "u"}, "--username goes with --auth basic|bearer|oauth2"),
        ({"auth": "bearer", "scope": "x"}, "--scope is not a setting of --auth bearer"),
        ({"auth": "basic"}, "--auth basic needs --username"),
        ({"auth": "oauth2", "client_id": "c"}, "--auth oauth2 needs --token-url"),
        ({"no_auth": True, "auth": "bearer"}, "--no-auth removes auth"),
        ({"no_proxy": True, "proxy": "http://p.example:3128"}, "--no-proxy removes proxy"),
        ({"proxy": "http://p.example:1", "proxy_env": "P"}, "give --proxy or --proxy-env"),
    ],
    ids=[
        "field-without-kind",
        "field-of-another-kind",
        "missing-field",
        "missing-url",
        "auth-and-no-auth",
        "proxy-and-no-proxy",
        "two-proxies",
    ],
)
def test_settings_that_do_not_fit_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], given: dict[str, Any], said: str
) -> None:
    err = _exit_message(capsys, lambda: credential_settings(_options(**given), {}, Secrets()))
    assert said in err and err.count("\n") == 1


def test_a_proxy_password_on_the_command_line_is_refused_unshown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://relay:{SECRET}@egress.example:3128"
    err = _exit_message(capsys, lambda: credential_settings(_options(proxy=url), {}))
    assert "--proxy-env" in err and SECRET not in err
    monkeypatch.setenv("EGRESS_PROXY", url)
    assert credential_settings(_options(proxy_env="EGRESS_PROXY"), {}) == {"proxy": url}


def test_a_secret_comes_from_its_variable_a_pipe_or_a_prompt_and_is_never_said(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_TOKEN", SECRET)
    assert read_secret("bearer token", "RELAY_TOKEN") == SECRET
    monkeypatch.delenv("RELAY_TOKEN")
    err = _exit_message(capsys, lambda: read_secret("bearer token", "RELAY_TOKEN"))
    assert "$RELAY_TOKEN is not set: it holds the bearer token" in err
    # The secret itself given where a variable's name goes: not repeated back.
    err = _exit_message(capsys, lambda: read_secret("bearer token", f"{SECRET}!"))
    assert SECRET not in err and "give its name" in err

    @click.command()
    def ask() -> None:
        click.echo(f"read {len(read_secret('bearer token', None))} characters")

    piped = CliRunner().invoke(ask, input=f"{SECRET}\n")
    assert piped.exit_code == 0 and piped.output == f"read {len(SECRET)} characters\n"
    assert SECRET not in piped.output
    empty = CliRunner().invoke(ask, input="")
    assert empty.exit_code == 2 and "no bearer token given" in empty.output
