"""What one MCP request may hold (receiver/agents/shape.py), read on its bytes before the SDK
builds anything: each bound refused with the field, the bound and what was sent, early (a
hostile body is not read to its end), and what honest clients send let through; and each
key's requests in flight with their bodies (receiver/agents/bounds.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver.agents import shape
from receiver.agents.bounds import IN_FLIGHT_LIMIT, InFlight
from receiver.agents.shape import Refused, check
from receiver.kernel.errors import LimitReached


def refusal(message: Any) -> Refused:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    with pytest.raises(Refused) as refused:
        check(body)
    return refused.value


def call(arguments: Any, id_: Any = 3) -> dict[str, Any]:
    params = {"name": "list_tasks", "arguments": arguments}
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params}


def test_what_clients_send_passes() -> None:
    request = {
        "kind": "image_to_video",
        "promptText": 'a cat saying "hi" \\ \n ünïcödé 🐈',
        "promptImage": "data:image/png;base64," + "A" * (shape.MAX_STRING_BYTES - 100),
        "metadata": {"a": [1, 2.5e-3, -7, True, None], "b": {"c": {"d": []}}},
    }
    check(json.dumps(call({"request": request}), ensure_ascii=False).encode())
    uris = [f"task://{n:032x}" for n in range(100)]
    listen = {"notifications": {"resourceSubscriptions": uris, "resourcesListChanged": True}}
    check(json.dumps({"id": "l-1", "method": "subscriptions/listen", "params": listen}).encode())
    check(b'  {"jsonrpc" : "2.0" ,\n "method" : "ping", "id" : 1 }  ')


def test_a_listen_of_more_than_100_uris_is_refused_naming_the_field() -> None:
    uris = [f"task://{n}" for n in range(300_000)]
    params = {"notifications": {"resourceSubscriptions": uris}}
    refused = refusal(
        {"jsonrpc": "2.0", "id": "l-1", "method": "subscriptions/listen", "params": params}
    )
    assert refused.detail == (
        "params.notifications.resourceSubscriptions: at most 100 items, and this request sent"
        " more than 100"
    )
    assert refused.request_id == "l-1" and refused.in_params


def test_each_bound_names_the_field_the_bound_and_what_was_sent() -> None:
    string = refusal(call({"state": "a" * (2 * 1024 * 1024)}))
    assert string.detail == (
        "params.arguments.state: a string of at most 1,048,576 bytes (1 MiB), and this one is"
        " 2,097,152 bytes"
    )
    assert refusal(call({"ids": list(range(200_000))})).detail.startswith(
        "params.arguments.ids: at most 1,000 items"
    )
    members = refusal(call({f"k{n}": n for n in range(1_001)}))
    assert members.detail.startswith("params.arguments: at most 1,000 members")
    values = refusal(call({"rows": [[0] * 1_000 for _ in range(11)]}))
    assert values.detail.startswith("the request: at most 10,000 values in all")
    assert not values.in_params  # the whole request's bound, not one param's
    number = refusal(call({"n": int("9" * 100)}))
    assert number.detail == (
        "params.arguments.n: a number or literal of at most 64 bytes, and this one is longer"
    )
    key = refusal(call({"k" * (2 * 1024 * 1024): 1}))
    assert key.detail.startswith("params.arguments: a key of at most 1,048,576 bytes")


def test_deep_nesting_is_refused_at_the_bound_without_reading_further() -> None:
    body = b'{"id":7,"params":{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}}"
    refused = refusal(body)
    assert refused.detail.startswith("params.a.0.0.0.0.....0: at most 32 levels")
    assert refused.request_id == 7
    just_within = b'{"id":7,"params":' + b"[" * 30 + b"]" * 30 + b"}"
    check(just_within)


def test_a_string_that_never_closes_is_left_to_the_parser_unless_past_the_bound() -> None:
    check(b'{"id":1,"params":{"a":"never closed \\" ' + b"x" * 1000)
    endless = b'{"id":1,"params":{"a":"' + b'\\"' * (1024 * 1024)
    assert "this one is longer" in refusal(endless).detail


def test_the_id_is_answered_only_when_it_came_before_the_fault() -> None:
    late = b'{"params":{"a":' + b"[" * 40 + b"]" * 40 + b'},"id":9}'
    assert refusal(late).request_id is None
    nested_id = {"params": {"id": 5, "x": "a" * (2 * 1024 * 1024)}, "id": True}
    assert refusal(nested_id).request_id is None  # params.id is not the request's


def test_a_body_past_the_bound_says_what_was_declared() -> None:
    words = shape.body_refusal(52_428_800)
    assert "at most 4,194,304 bytes (4 MiB)" in words and "declared 52,428,800 bytes" in words
    assert "more than 4,194,304 bytes of this one arrived" in shape.body_refusal(None)


def test_a_keys_requests_in_flight_are_bounded_with_their_bodies() -> None:
    flight = InFlight(requests=2, body_bytes=100)
    with flight.request("a", 60) as settle:
        with pytest.raises(LimitReached) as too_much, flight.request("a", 50):
            pass
        assert too_much.value.limit == IN_FLIGHT_LIMIT and too_much.value.retry_after == 1
        assert "hold 60 bytes of bodies, and this one may bring 50 more" in too_much.value.detail
        settle(10)  # read: it was smaller than it might have been
        with flight.request("a", 50):
            with pytest.raises(LimitReached) as too_many, flight.request("a", 0):
                pass
            assert "2 requests in flight" in too_many.value.detail
            with flight.request("b", 100):  # another key has its own room
                pass
    with flight.request("a", 100):  # all given back
        pass
