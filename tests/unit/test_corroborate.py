"""Judging a callback's claim against CometAPI's answer: pure rules, no I/O."""

from __future__ import annotations

import math

import pytest

from receiver.lifecycle.rules.task import (
    MAX_CREDITS,
    Claim,
    Observation,
    claim_of,
    judge,
    retry_delay,
    sane_credits,
)

VIDEO = "https://cdn.test.invalid/out/v.mp4?sig=first"
WINDOW = 60.0


def claim(state: str | None, *outputs: str, at: float = 100.0) -> Claim:
    return Claim("evt_1", state, outputs, at)


def answer(state: str | None, *outputs: str) -> Observation:
    return Observation(state=state, outputs=outputs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claimed", "answered", "verdict"),
    [
        # CometAPI says the same
        (claim("succeeded", VIDEO), answer("succeeded", VIDEO), "confirmed"),
        (claim("failed"), answer("failed"), "confirmed"),
        (claim("running"), answer("running"), "confirmed"),
        # the same video, re-signed by the CDN on this fetch
        (
            claim("succeeded", VIDEO),
            answer("succeeded", "https://cdn.test.invalid/out/v.mp4?sig=second"),
            "confirmed",
        ),
        # a progress hint CometAPI is already past
        (claim("running"), answer("succeeded", VIDEO), "confirmed"),
        (claim("queued"), answer("running"), "confirmed"),
        # a hint with no state of its own ("3" without a video, an unknown number)
        (claim(None), answer("running"), "confirmed"),
        # CometAPI's final word differs
        (claim("succeeded", VIDEO), answer("failed"), "contradicted"),
        (claim("failed"), answer("succeeded", VIDEO), "contradicted"),
        # the right state with someone else's video
        (
            claim("succeeded", "https://attacker.invalid/evil.mp4"),
            answer("succeeded", VIDEO),
            "contradicted",
        ),
    ],
)
def test_a_conclusive_answer_settles_the_claim(
    claimed: Claim, answered: Observation, verdict: str
) -> None:
    assert judge(claimed, answered, now=101.0, window=WINDOW) == verdict


@pytest.mark.parametrize(
    ("claimed", "answered"),
    [
        # CometAPI has not caught up yet: a genuine callback can run ahead of the feed
        (claim("succeeded", VIDEO), answer("running")),
        (claim("running"), answer("queued")),
        # no answer: unreachable, task_not_exist, or a status nobody can read
        (claim("succeeded", VIDEO), None),
        (claim("succeeded", VIDEO), answer(None)),
    ],
)
def test_an_inconclusive_answer_waits_within_the_window_only(
    claimed: Claim, answered: Observation | None
) -> None:
    assert judge(claimed, answered, now=claimed.received_at + 1, window=WINDOW) is None
    late = judge(claimed, answered, now=claimed.received_at + WINDOW, window=WINDOW)
    no_answer = answered is None or answered.state is None
    assert late == ("unconfirmed" if no_answer else "contradicted")


def test_a_forged_success_on_a_running_task_is_contradicted_once_the_window_closes() -> None:
    forged = claim("succeeded", "https://attacker.invalid/evil.mp4")
    assert judge(forged, answer("running"), now=110.0, window=WINDOW) is None
    assert judge(forged, answer("running"), now=160.0, window=WINDOW) == "contradicted"


def test_retry_delay_backs_off_with_the_claims_age_within_bounds() -> None:
    delays = [retry_delay(age) for age in (0.0, 1.0, 4.0, 10.0, 60.0, 600.0)]
    assert delays == sorted(delays)
    assert delays[0] == 0.25 and delays[-1] == 10.0


def test_a_callback_claims_a_state_and_outputs_but_never_credits() -> None:
    forged = Observation(state="succeeded", outputs=(VIDEO,), point=-1e300, refund=1e300)
    claimed = claim_of(forged)
    assert (claimed.state, claimed.outputs) == ("succeeded", (VIDEO,))
    assert (claimed.point, claimed.refund) == (None, None)


@pytest.mark.parametrize(
    ("point", "refund", "kept", "refused"),
    [
        (320.0, 0.0, (320.0, 0.0), {}),
        (None, None, (None, None), {}),
        (0.0, MAX_CREDITS, (0.0, MAX_CREDITS), {}),
        (-1e300, 1e300, (None, None), {"point": "-1e+300", "refund": "1e+300"}),
        (math.nan, 5.0, (None, 5.0), {"point": "nan"}),
        (320.0, math.inf, (320.0, None), {"refund": "inf"}),
        (-320.0, -math.inf, (None, None), {"point": "-320.0", "refund": "-inf"}),
        (MAX_CREDITS + 1, 0.0, (None, 0.0), {"point": "1000001.0"}),
    ],
)
def test_only_a_figure_that_can_be_a_price_is_kept(
    point: float | None,
    refund: float | None,
    kept: tuple[float | None, float | None],
    refused: dict[str, str],
) -> None:
    answered = Observation(state="succeeded", point=point, refund=refund)
    checked, dropped = sane_credits(answered)
    assert (checked.point, checked.refund) == kept
    assert dropped == refused
    assert checked.state == "succeeded"
