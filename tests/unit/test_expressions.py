"""Filters and transforms in CEL: what is refused before it is stored (with the field and
the position), what an expression that fails on an event becomes, the six worked examples
of docs/delivery.md, and the event catalog's schemas and examples."""

from __future__ import annotations

import re
import tomllib
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from receiver.catalog.events import schema as event_schema
from receiver.config import DownstreamConfig, ManagedDownstreamConfig, problems
from receiver.destinations.webhook import webhook
from receiver.kernel import expression_cost, expressions
from receiver.lifecycle.rules import catalog as events

# Filters and transforms need the cel extra; the core install refuses them
# (test_expressions_extra.py). Skipped test by test, so that each is counted.
pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(find_spec("cel") is None, reason="the cel extra is not installed"),
]
DOC = Path(__file__).parents[2] / "docs" / "delivery.md"


def refusal(**spec: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        ManagedDownstreamConfig.model_validate(
            {"name": "crm", "url": "https://x.example/h", **spec}
        )
    [line] = problems(caught.value, "body")
    return line


def test_a_bad_expression_is_refused_naming_the_downstream_field_and_position() -> None:
    assert refusal(filter="event.type ==").startswith(
        "body: downstream 'crm': filter is not valid CEL"
    )
    assert refusal(filter="event.type ==").endswith(
        "at 1:14: the expression ends after `==`, where a value should follow"
    )
    assert "at 2:5: " in refusal(transform="{'a': 1}\n  + ")


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ('event.data.tier = "gold"', "at 1:17: a single `=` compares nothing: write `==`"),
        ('event.type == "task', 'at 1:15: this string is never closed: its closing " is missing'),
        ('"\\q" == "x"', "at 1:1: this string holds `\\q`, an escape CEL does not know"),
        ("event.data.", "at 1:12: a field name should follow `.`"),
        ("1 2", "at 1:3: `2` follows a whole expression (join two with `&&` or `||`)"),
        ("event.type == )", "at 1:15: `)` cannot stand here after `==`, where a value should"),
        ('{"a": 1', "at 1:8: the expression ends after `1`, where `}` or `,` should follow"),
        ("x ? y", "at 1:6: the expression ends after `y`, where `:` should follow"),
        ("a # b", "at 1:3: `#` is not something CEL reads"),
    ],
    ids=["equals", "open-string", "escape", "dot", "two", "closer", "map", "ternary", "char"],
)
def test_a_syntax_error_is_told_in_words_never_the_parsers_dump(source: str, said: str) -> None:
    told = refusal(filter=source)
    assert told == f"body: downstream 'crm': filter is not valid CEL {said}"
    assert not re.search(r"mismatched|extraneous|expecting|<EOF>|IDENTIFIER|NUM_", told)


def test_size_cost_and_a_transform_that_is_no_map_are_refused() -> None:
    assert "filter is 4100 bytes, over 4096 at 1:4097" in refusal(filter="1 == 1" + " " * 4094)
    nested = "[1].all(a, [2].all(b, [3].all(c, c > 0)))"
    assert "filter may cost" in refusal(filter=nested)
    assert refusal(filter=nested).endswith("at 1:30")
    assert (
        ManagedDownstreamConfig.model_validate(
            {"name": "crm", "url": "https://x.example/h", "filter": "[1].all(a, [2].all(b, b > a))"}
        ).filter
        == "[1].all(a, [2].all(b, b > a))"
    )
    assert "transform must give a map, and gives a str" in refusal(transform='"text"')
    assert "takes a filter only" in refusal(format="slack", transform="{}")
    assert "Webhook-Signature is the relay's to set" in refusal(headers={"Webhook-Signature": "x"})


def test_a_filter_that_fails_is_not_matched_with_the_reason() -> None:
    context = expressions.context(events.example("task.succeeded"))
    check = expressions.verdict
    assert check(expressions.compiled('event.data.kind == "image_to_video"'), context).matched
    assert check(expressions.compiled("event.data.point > 1"), context).reason is None
    refused = check(expressions.compiled("event.data.state == 'failed'"), context)
    assert refused == expressions.Verdict(False, "filter refused the event")
    failed = check(expressions.compiled("event.data.nope == 1"), context)
    assert not failed.matched and failed.reason == "filter failed: no field 'nope'"
    typed = check(expressions.compiled("event.data.point + 'x' == 'y'"), context)
    assert not typed.matched and typed.reason and typed.reason.startswith("filter failed")
    assert not check(expressions.compiled("'yes'"), context).matched


def test_a_transform_gives_the_body_and_may_say_method_path_and_headers() -> None:
    context = expressions.context(events.example("task.failed"))
    plain = expressions.shape(expressions.compiled('{"id": event.data.task_id}'), context)
    assert plain == expressions.Shaped(b'{"id":"tsk_example"}')
    program = expressions.compiled(
        '{"body": {"t": event.type}, "method": "put", "path": "/i/" + event.data.task_id,'
        ' "headers": {"x-kind": event.data.kind}}'
    )
    shaped = expressions.shape(program, context)
    assert shaped.body == b'{"t":"task.failed"}' and shaped.method == "PUT"
    assert shaped.path == "/i/tsk_example" and shaped.headers == {"x-kind": "image_to_video"}
    for bad, why in [
        ('{"body": 1, "method": "DELETE"}', "method must be one of"),
        ('{"body": 1, "path": "/../admin"}', "path must start with /"),
        ('{"body": 1, "headers": {"host": "x"}}', "host is the relay's to set"),
        ("event.data.nope", "transform failed: no field 'nope'"),
        ("[1, 2]", "transform gave a list, not a map"),
    ]:
        with pytest.raises(expressions.ExpressionFailed, match=re.escape(why)):
            expressions.shape(expressions.compiled(bad), context)


def test_the_cost_estimate_weighs_terms_by_the_macros_around_them() -> None:
    flat, nowhere = expressions.cost("a && b || c")
    one, where = expressions.cost("xs.map(x, x + 1)")
    assert flat == 7 and nowhere is None
    assert one > 100 and where == (1, 7)


def _worked_examples() -> list[dict[str, Any]]:
    text = DOC.read_text().split("### Six worked examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    return [tomllib.loads(block)["downstream"][0] for block in blocks]


def test_the_six_worked_examples_are_valid_and_do_what_they_say() -> None:
    examples = {d["name"]: DownstreamConfig.model_validate(d) for d in _worked_examples()}
    assert len(examples) == 6
    gold = events.example("task.succeeded")
    silver = events.envelope(
        {**events.example_document("task.succeeded"), "metadata": None}, "2026-01-01T00:00:00Z"
    )
    compiled = expressions.compiled
    gold_filter = compiled(examples["gold"].filter or "")
    assert expressions.verdict(gold_filter, expressions.context(gold)).matched
    assert not expressions.verdict(gold_filter, expressions.context(silver)).matched
    failed = expressions.context(events.example("task.failed"))
    for name in ("linear", "airtable", "n8n", "audit"):
        shaped = expressions.shape(compiled(examples[name].transform or ""), failed)
        assert shaped.body.startswith(b"{"), name
    audit = expressions.shape(compiled(examples["audit"].transform or ""), failed)
    assert b"outputs" not in audit.body and b"cdn.example.com" not in audit.body


@pytest.mark.parametrize("event_type", events.EVENT_TYPES)
def test_each_event_type_has_a_schema_its_example_and_the_renderer_meet(event_type: str) -> None:
    schema = event_schema(event_type)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(events.example(event_type), schema)
    rendered = webhook(events.example_document(event_type))
    rendered["timestamp"] = "2026-01-01T00:00:00Z"
    assert rendered == events.example(event_type)


def test_only_the_fields_the_expressions_read_are_converted_and_they_answer_alike() -> None:
    assert expressions.wanted('event.type == "a"', "{'k': event.data.metadata.tier}") == (
        frozenset({"data", "type"}),
        frozenset({"metadata"}),
    )
    assert expressions.wanted('"event.data" == event.data.kind') == (
        frozenset({"data"}),
        frozenset({"kind"}),
    )
    for whole in ("event", "event.data", "event.data['state']", "has(event.data) && true"):
        assert expressions.wanted(whole) is None, whole
    envelope = events.example("task.failed")
    for source in (GOLD_CHECK, 'event.data.state == "failed" && size(event.data.outputs) == 0'):
        full = expressions.verdict(expressions.compiled(source), expressions.context(envelope))
        pruned = expressions.context(envelope, source)
        assert expressions.verdict(expressions.compiled(source), pruned) == full
    missing = expressions.context(envelope, "event.data.nope == 1")
    reason = expressions.verdict(expressions.compiled("event.data.nope == 1"), missing).reason
    assert reason == "filter failed: no field 'nope'"


GOLD_CHECK = 'has(event.data.metadata.tier) && event.data.metadata.tier == "gold"'


# Issue 61: 62 bytes that held the loop ~42 s on a task's own 1,000-item metadata.
COSTLY = "event.data.metadata.l.map(x, event.data.metadata.l).size() > 0"


def _with_metadata(**metadata: Any) -> dict[str, Any]:
    envelope = events.example("task.succeeded")
    envelope["data"]["metadata"] = metadata
    return envelope


def test_the_issues_filter_on_1000_items_is_cut_naming_the_field_and_runs_on_10() -> None:
    program = expressions.compiled(COSTLY)
    big = _with_metadata(l=[0] * 1000)
    for context in (expressions.context(big), expressions.context(big, COSTLY)):
        cut = expressions.verdict(program, context)
        assert cut.cut and not cut.matched
        assert cut.reason and cut.reason.startswith("filter would take ~")
        assert cut.reason.endswith("over 1,000,000 (event.data.metadata.l holds 1,000 items)")
    assert expressions.verdict(program, expressions.context(_with_metadata(l=[0] * 10))).matched


def test_a_transform_too_costly_or_making_a_body_over_1_mib_is_over_budget() -> None:
    context = expressions.context(_with_metadata(l=[0] * 1000, s="x" * 13_000))
    costly = expressions.compiled('{"rows": event.data.metadata.l.map(x, event.data.metadata)}')
    with pytest.raises(expressions.OverBudget, match=r"^transform would take .*metadata\.l"):
        expressions.shape(costly, context)
    giant = expressions.compiled("{'c': [" + ", ".join(["event.data.metadata.s"] * 100) + "]}")
    with pytest.raises(expressions.OverBudget, match=r"body of 1,30\d,\d+ bytes, over 1,048,576"):
        expressions.shape(giant, context)
    enveloped = expressions.compiled(
        "{'body': [" + ", ".join(["event.data.metadata.s"] * 90) + "]}"
    )
    with pytest.raises(expressions.OverBudget, match="over 1,048,576"):
        expressions.shape(enveloped, context)
    # Over budget is a failure on the event too: a delivery ends with it as any other.
    assert issubclass(expressions.OverBudget, expressions.ExpressionFailed)
    small = expressions.compiled("{'c': [event.data.metadata.s]}")
    assert len(expressions.shape(small, context).body) > 13_000


def test_the_estimate_grows_with_the_lists_walked_and_the_copies_made() -> None:
    def steps(source: str, **metadata: Any) -> int:
        context = expressions.context(_with_metadata(**metadata))
        return expression_cost.estimate(expressions.plan(source), context.sizes)

    walk = "event.data.metadata.l.exists(x, x < 0)"
    rebuild = "event.data.metadata.l.map(x, 1).size() > 0"
    # A walk is linear in the list; a map rebuilds its list at each item; a copy of the
    # event in a map's body makes it cubic.
    assert steps(walk, l=[0] * 1000) < 10 * steps(walk, l=[0] * 100)
    assert steps(rebuild, l=[0] * 1000) > 90 * steps(rebuild, l=[0] * 100)
    assert steps(COSTLY, l=[0] * 1000) > 500 * steps(COSTLY, l=[0] * 100)
    # A term outside any macro costs once; `event` there copies all it was given.
    assert steps("event.data.metadata.k == 1", k=1, b=[0] * 1000) > 1000
    assert steps("1 < 2") == 3
    shape = expressions.plan("[1, 2, 3].map(x, [4, 5].exists(y, y == x))")
    assert shape.longest_literal == 3 and shape.top.inner[0].macro == "map"
    assert shape.top.inner[0].inner[0].macro == "exists"


def test_the_rough_sizes_taken_in_c_are_never_below_the_walked_ones() -> None:
    for envelope in (
        events.example("task.succeeded"),
        _with_metadata(l=[0] * 1000),
        _with_metadata(l=[[1, 2, [3, "x" * 500]]] * 40, s="é" * 3000, m={"a": {"b": [None]}}),
    ):
        context = expressions.context(envelope)
        rough, exact = context.rough, context.sizes
        assert rough.values >= exact.values and rough.longest >= exact.longest
        assert rough.largest_item >= exact.largest_item
        for source in (COSTLY, GOLD_CHECK, "event.data.metadata.l.filter(x, true).size() > 0"):
            shape = expressions.plan(source)
            estimate = expression_cost.estimate
            assert estimate(shape, rough) >= estimate(shape, exact), source


def test_long_lists_of_its_own_nested_in_macros_are_refused_before_it_is_stored() -> None:
    zeros = ", ".join(["0"] * 600)
    nested = f"[{zeros}].map(x, [{zeros}].map(y, 1)).size() > 0"
    assert expressions.cost(nested)[0] < expressions.MAX_COST  # the static bound lets it by
    with pytest.raises(expressions.ExpressionError, match="its lists are too long"):
        expressions.check(nested, "filter")
    assert "its lists are too long" in refusal(filter=nested)
    expressions.check(f"[{zeros}].exists(x, x == 1)", "filter")  # one walk of 600: fine
