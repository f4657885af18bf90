"""Secrets are cut out of log lines and stored errors in every spelling they come back in."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from receiver.kernel.errors import StoreError, StoreSlow
from receiver.kernel.observability import logs
from receiver.media.storage import local as storage

SLACK_URL = "https://hooks.slack.invalid/services/T0001/B0002/abc~def%7Eghi"


def test_a_url_secret_is_scrubbed_as_given_encoded_and_decoded() -> None:
    logs.add_secrets([SLACK_URL])
    for spelling in (SLACK_URL, SLACK_URL.replace("%7E", "~"), quote(SLACK_URL, safe="")):
        text = logs.scrub(f"ClientError: cannot reach {spelling} (reset)")
        assert "T0001/B0002" not in text and "[redacted]" in text, spelling


def test_short_values_are_not_taken_as_secrets() -> None:
    logs.add_secrets(["abc"])
    assert logs.scrub("abc abc") == "abc abc"


def test_a_secret_urls_path_and_credential_are_scrubbed_where_a_server_quotes_them() -> None:
    bot = "https://api.telegram.invalid/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendVideo"
    logs.add_secrets([SLACK_URL, bot])
    express = "HTTP 404: Cannot POST /services/T0001/B0002/abc~def%7Eghi"
    assert "T0001" not in logs.scrub(express)
    text = logs.scrub("HTTP 404: Cannot POST /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text
    assert "sendVideo" in logs.scrub("method sendVideo")  # short words are not secrets


def test_an_api_key_quoted_in_an_upstream_refusal_is_scrubbed() -> None:
    key = "sk-live-0123456789abcdefghij"
    logs.add_secrets([key])
    assert key not in logs.scrub(f"Incorrect API key provided: Bearer {key}")


def test_a_secret_across_the_kept_parts_end_is_scrubbed_before_the_cut() -> None:
    token = "Qw3rTy7UiOp1AsDfGh5JkLzXcVbN9mQaWsEdRfTgYhUjIkOlP2mNbVcX"
    logs.add_secrets([f"https://discord.invalid/api/webhooks/1190234567890123456/{token}"])
    answer = "HTTP 404: " + "<p>" * 50 + f"Cannot POST /api/webhooks/1190234567890123456/{token}"
    for limit in range(150, len(answer) + 1, 7):
        kept = logs.scrub(answer, limit)
        assert len(kept) <= limit
        assert token[:8] not in kept, limit  # not even the start of it
    assert logs.scrub(answer, None).endswith("Cannot POST [redacted]")


def test_an_s3_refusal_quoting_the_access_key_id_is_scrubbed_before_it_is_kept() -> None:
    key_id = "AKIAQWERTYUIOPASDFGH"
    logs.add_secrets([key_id])
    refusal = RuntimeError(
        "Generic S3 error: Server returned non-2XX status code: 403 Forbidden: <Error><Code>"
        f"InvalidAccessKeyId</Code><AWSAccessKeyId>{key_id}</AWSAccessKeyId></Error>\n"
        "  Backtrace: ..."
    )
    reason = storage.failure_reason(refusal)
    assert key_id not in reason and "InvalidAccessKeyId" in reason


def _written(capsys: pytest.CaptureFixture[str], write: Callable[[], None]) -> list[Any]:
    """The lines `write` logs, each parsed (a line that is not JSON fails here)."""
    logs.configure("info")
    try:
        write()
        out = capsys.readouterr().out
    finally:
        with capsys.disabled():
            logs.configure("warning")
    return [json.loads(line) for line in out.splitlines()]


def test_a_log_lines_values_are_scrubbed_escapes_and_nested_keys_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quoted = 'pa"ss\\word-0123456789'
    logs.add_secrets([quoted, "key-abcdefghijklmnop"])

    def write() -> None:
        logs.get_logger("t").info(
            "said",
            reason=f"refused: {quoted}",
            headers={"key-abcdefghijklmnop": "x", "kept": ["a", f"b {quoted}"]},
            error=ValueError(quoted),
        )
        logging.getLogger("uvicorn.error").warning("saw %s", quoted)

    said, foreign = _written(capsys, write)
    assert said["reason"] == "refused: [redacted]"
    assert said["error"] == "[redacted]"
    assert said["headers"] == {"[redacted]": "x", "kept": ["a", "b [redacted]"]}
    assert (said["event"], said["level"]) == ("said", "info")
    assert (foreign["event"], foreign["level"]) == ("saw [redacted]", "warning")


def test_a_secret_that_is_a_name_never_redacts_names_nor_breaks_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A value a token endpoint chose (`"level":"info"`, an event's name), even in scope,
    cuts out only what a value holds: every line stays JSON with its level and event."""
    chosen = logs.Redactor()
    chosen.hold(['"level":"info"', "delivery.succeeded", "downstream"])

    def write() -> None:
        log = logs.get_logger("t")
        with logs.scoped(chosen):
            log.info("delivery.succeeded", downstream="erp", said="delivery.succeeded!")
        log.info("delivery.succeeded", said="delivery.succeeded!")

    inside, outside = _written(capsys, write)
    assert inside == inside | {"event": "delivery.succeeded", "level": "info", "downstream": "erp"}
    assert inside["said"] == "[redacted]!"
    assert outside["said"] == "delivery.succeeded!"  # not its scope: not searched


def test_a_scope_holds_its_last_two_tokens_only() -> None:
    tokens = logs.Redactor()
    tokens.hold(["oauth-token-0001-xyz", None])
    tokens.hold(["oauth-token-0002-xyz", "oauth-token-0001-xyz"])
    tokens.hold(["oauth-token-0003-xyz", "oauth-token-0002-xyz"])
    with logs.scoped(tokens):
        assert logs.scrub("oauth-token-0001-xyz oauth-token-0002-xyz oauth-token-0003-xyz") == (
            "oauth-token-0001-xyz [redacted] [redacted]"
        )
    assert logs.scrub("oauth-token-0003-xyz") == "oauth-token-0003-xyz"


def test_readable_lines_are_plain_text_and_scrubbed_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`receiver dev`'s warnings sit among the deliveries it prints: a line each, not JSON."""
    logs.add_secrets(["dev-secret-0123456789"])
    logs.configure("info", readable=True)
    try:
        logs.get_logger("t").warning(
            "delivery.retry", downstream="demo/hooks", error="dev-secret-0123456789"
        )
        logging.getLogger("aiokafka").warning("Unable to update metadata")
        out = capsys.readouterr().out
    finally:
        with capsys.disabled():
            logs.configure("warning")
    own, foreign = out.splitlines()
    assert not own.startswith("{") and "  relay  warning  delivery.retry  " in own, own
    assert "downstream=demo/hooks" in own and "error=[redacted]" in own
    assert "dev-secret" not in out
    assert "warning  Unable to update metadata  logger=aiokafka" in foreign, foreign


def test_a_store_past_its_timeout_is_a_warning_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Under load the store may answer past its timeout: what asked is tried again, so its
    line is a warning saying so; any other failure stays an error with its traceback."""

    def write() -> None:
        log = logs.get_logger("t")
        for raised in (StoreSlow("PostgreSQL did not answer within 2s"), StoreError("gone")):
            try:
                raise raised
            except StoreError:
                log.exception("poll.claim_failed")

    slow, broken = _written(capsys, write)
    assert slow["level"] == "warning" and slow["retried"] is True
    assert slow["store"] == "PostgreSQL did not answer within 2s" and "exception" not in slow
    assert broken["level"] == "error" and "StoreError: gone" in broken["exception"]
