"""A downstream's headers, static or a transform's: the connection's own, the request's
framing, a cookie, a proxy's and the signature's names are refused, as is a control
character in a name or a value, each with a reason naming the header; ordinary headers (a
tab in a value too) pass."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from receiver.config import DownstreamConfig, ManagedDownstreamConfig
from receiver.kernel.net.headers import header_problem

REFUSED = [
    "Connection",
    "Upgrade",
    "Expect",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Content-Length",
    "Host",
    "Cookie",
    "Keep-Alive",
    "Proxy-Authorization",
    "proxy-connection",
    "Webhook-Signature",
    "webhook-anything",
    "Signature",
    "Signature-Input",
    "Content-Digest",
]


@pytest.mark.parametrize("name", REFUSED)
def test_hop_by_hop_framing_and_signature_names_are_refused(name: str) -> None:
    problem = header_problem({"X-Fine": "1", name: "x"})
    assert problem is not None and problem.startswith(f"headers: {name} is the relay's to set")


@pytest.mark.parametrize("value", ["a\x00b", "a\rb", "a\nb", "a\x1bb", "a\x7fb"])
def test_a_control_character_in_a_value_is_refused(value: str) -> None:
    problem = header_problem({"X-Api-Key": value})
    assert problem == "headers: the value of X-Api-Key holds a control character"


def test_a_control_character_in_a_name_is_refused() -> None:
    assert header_problem({"X-\x01": "1"}) == "headers: 'X-\\x01' is not a header name"


@pytest.mark.parametrize("name", ["Cookie", "Upgrade", "Expect", "Traceparent"])
def test_a_transform_may_not_set_them_either(name: str) -> None:
    pytest.importorskip("cel")
    from receiver.expressions import pool
    from receiver.expressions.evaluate import evaluate
    from receiver.expressions.lines import OPERATOR
    from receiver.expressions.rules import ExpressionFailed

    async def shaped() -> None:
        transform = f'{{"body": {{}}, "headers": {{"{name}": "x"}}}}'
        try:
            await evaluate(None, transform, {"type": "task.succeeded"}, OPERATOR)
        finally:
            pool.close()

    with pytest.raises(ExpressionFailed, match=f"{name} is the relay's to set"):
        asyncio.run(shaped())


def test_ordinary_headers_pass() -> None:
    headers = {"Authorization": "Bearer t", "X-Api-Key": "k\tv", "Accept": "*/*"}
    assert header_problem(headers) is None
    made = ManagedDownstreamConfig(name="crm", url="https://x.example/h", headers=headers)
    assert made.headers == headers


def test_the_models_refuse_them_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="headers: Cookie is the relay's to set"):
        ManagedDownstreamConfig(name="crm", url="https://x.example/h", headers={"Cookie": "a=1"})
    with pytest.raises(ValidationError, match="headers: Upgrade is the relay's to set"):
        DownstreamConfig(name="crm", url="https://x.example/h", headers_env={"Upgrade": "ENV"})


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ('"webhook-id": "x"', "webhook-id is the relay's to set"),
        ('"Signature-Input": "x"', "Signature-Input is the relay's to set"),
        ('"x-key": "a\\r\\nb"', "the value of x-key holds a control character"),
    ],
)
def test_a_transform_setting_them_on_the_sample_event_is_refused_before_it_is_stored(
    header: str, said: str
) -> None:
    pytest.importorskip("cel")
    from receiver.config.expression_fields import vet_expressions
    from receiver.expressions import pool
    from receiver.expressions.lines import OPERATOR
    from receiver.kernel.errors import InvalidRequest

    transform = f'{{"body": {{}}, "headers": {{{header}}}}}'
    made = ManagedDownstreamConfig(name="crm", url="https://x.example/h", transform=transform)

    async def vetted() -> None:
        try:
            await vet_expressions(made, OPERATOR)
        finally:
            pool.close()

    with pytest.raises(InvalidRequest, match=f"transform: on the sample event, headers: {said}"):
        asyncio.run(vetted())
