"""What a failed render's code allows (another try) and may tell an end user."""

from __future__ import annotations

import pytest

from receiver.lifecycle.rules.task import (
    DEFAULT_FAILURE_MESSAGE,
    failure_message,
    resubmit,
    worth_resubmitting,
)


@pytest.mark.parametrize(
    ("code", "worth"),
    [
        ("INTERNAL.BAD_OUTPUT.CODE01", True),
        ("INTERNAL", True),
        ("SAFETY.INPUT.TEXT", False),
        ("SAFETY.OUTPUT.VIDEO", False),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", False),
        ("INPUT_PREPROCESSING.INTERNAL", False),
        ("ASSET.INVALID", False),
        ("INTERNALS", False),
        (None, False),
    ],
)
def test_only_the_codes_runway_calls_worth_another_try_are_resubmitted(
    code: str | None, worth: bool
) -> None:
    assert worth_resubmitting(code) is worth
    assert resubmit(code, resubmits_done=0, allowed=2) is worth
    assert resubmit(code, resubmits_done=2, allowed=2) is False
    assert resubmit(code, resubmits_done=0, allowed=0) is False


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("SAFETY.INPUT.TEXT", "declined by content moderation"),
        ("SAFETY.OUTPUT.VIDEO", "withheld by content moderation"),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", "declined by content moderation"),
        ("INPUT_PREPROCESSING.INTERNAL", "input could not be processed"),
        ("ASSET.INVALID", "input file is not valid"),
        ("INTERNAL.BAD_OUTPUT.CODE01", "did not come out right"),
        ("INTERNAL", "internal error"),
    ],
)
def test_each_failure_code_has_a_message_an_end_user_may_read(code: str, words: str) -> None:
    assert words in failure_message(code)


def test_an_unknown_or_missing_code_gets_the_plain_message() -> None:
    assert failure_message(None) == failure_message("NEW.CODE") == DEFAULT_FAILURE_MESSAGE
