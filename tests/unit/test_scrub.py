"""Secrets are cut out of log lines and stored errors in every spelling they come back in."""

from __future__ import annotations

from urllib.parse import quote

from receiver.observability import logs

SLACK_URL = "https://hooks.slack.invalid/services/T0001/B0002/abc~def%7Eghi"


def test_a_url_secret_is_scrubbed_as_given_encoded_and_decoded() -> None:
    logs.add_secrets([SLACK_URL])
    for spelling in (SLACK_URL, SLACK_URL.replace("%7E", "~"), quote(SLACK_URL, safe="")):
        text = logs.scrub(f"ClientError: cannot reach {spelling} (reset)")
        assert "T0001/B0002" not in text and "[redacted]" in text, spelling


def test_short_values_are_not_taken_as_secrets() -> None:
    logs.add_secrets(["abc"])
    assert logs.scrub("abc abc") == "abc abc"
