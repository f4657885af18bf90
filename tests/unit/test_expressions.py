"""Filters and transforms in CEL: what is refused before it is stored (with the field and
the position), what an expression that fails on an event becomes, the six worked examples
of docs/delivery.md, the event catalog's schemas and examples, and the budget each
evaluation runs under in its process (receiver/expressions/pool.py)."""

from __future__ import annotations

import asyncio
import re
import signal
import tomllib
from collections.abc import Coroutine, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from receiver.catalog.events import schema as event_schema
from receiver.config import DownstreamConfig, ManagedDownstreamConfig, problems
from receiver.config.expression_fields import vet_expressions, vet_now
from receiver.destinations.webhook import webhook
from receiver.expressions import evaluate as evaluation
from receiver.expressions import pool, rules
from receiver.expressions.lines import OPERATOR
from receiver.kernel.errors import InvalidRequest, Overloaded
from receiver.outbox.rules import event_types as events

# Filters and transforms need the cel extra; the core install refuses them
# (test_expressions_extra.py). Skipped test by test, so that each is counted.
pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(find_spec("cel") is None, reason="the cel extra is not installed"),
]
DOC = Path(__file__).parents[2] / "docs" / "delivery.md"
T = TypeVar("T")
_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(scope="module", autouse=True)
def _one_loop() -> Iterator[None]:
    """One event loop for the module, so that its tests share one pool of processes."""
    loop = asyncio.new_event_loop()
    _LOOP.append(loop)
    yield
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(_closed())
    loop.close()
    _LOOP.clear()


async def _closed() -> None:
    pool.close()


def run(awaited: Coroutine[Any, Any, T]) -> T:
    return _LOOP[0].run_until_complete(awaited)


def refusal(**spec: Any) -> str:
    """Why these settings are refused: by the model (the text alone), else by the process
    that compiles them, as the API says it."""
    try:
        settings = ManagedDownstreamConfig.model_validate(
            {"name": "crm", "url": "https://x.example/h", **spec}
        )
    except ValidationError as exc:
        [line] = problems(exc, "body")
        return line
    with pytest.raises(InvalidRequest) as caught:
        run(vet_expressions(settings, OPERATOR))
    return caught.value.detail


def evaluate(
    envelope: dict[str, Any], filter: str | None = None, transform: str | None = None
) -> tuple[rules.Verdict, rules.Shaped | None]:
    return run(evaluation.evaluate(filter, transform, envelope, OPERATOR))


def verdict(source: str, envelope: dict[str, Any]) -> rules.Verdict:
    return evaluate(envelope, filter=source)[0]


def shaped(source: str, envelope: dict[str, Any]) -> rules.Shaped:
    made = evaluate(envelope, transform=source)[1]
    assert made is not None
    return made


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


def test_size_and_a_transform_that_is_no_map_are_refused() -> None:
    assert "filter is 4100 bytes, over 4096 at 1:4097" in refusal(filter="1 == 1" + " " * 4094)
    # Nested macros are no longer weighed before they are stored: the budget bounds them.
    nested = "[1].all(a, [2].all(b, [3].all(c, c > 0)))"
    assert (
        ManagedDownstreamConfig.model_validate(
            {"name": "crm", "url": "https://x.example/h", "filter": nested}
        ).filter
        == nested
    )
    assert "transform must give a map, and gives a str" in refusal(transform='"text"')
    assert "takes a filter only" in refusal(format="slack", transform="{}")
    assert "Webhook-Signature is the relay's to set" in refusal(headers={"Webhook-Signature": "x"})


def test_a_filter_that_fails_is_not_matched_with_the_reason() -> None:
    envelope = events.example("task.succeeded")
    assert verdict('event.data.kind == "image_to_video"', envelope).matched
    assert verdict("event.data.point > 1", envelope).reason is None
    refused = verdict("event.data.state == 'failed'", envelope)
    assert refused == rules.Verdict(False, "filter refused the event")
    failed = verdict("event.data.nope == 1", envelope)
    assert not failed.matched and failed.reason == "filter failed: no field 'nope'"
    typed = verdict("event.data.point + 'x' == 'y'", envelope)
    assert not typed.matched and typed.reason and typed.reason.startswith("filter failed")
    assert not verdict("'yes'", envelope).matched


def test_a_transform_gives_the_body_and_may_say_method_path_and_headers() -> None:
    envelope = events.example("task.failed")
    plain = shaped('{"id": event.data.task_id}', envelope)
    assert plain == rules.Shaped(b'{"id":"tsk_example"}')
    made = shaped(
        '{"body": {"t": event.type}, "method": "put", "path": "/i/" + event.data.task_id,'
        ' "headers": {"x-kind": event.data.kind}}',
        envelope,
    )
    assert made.body == b'{"t":"task.failed"}' and made.method == "PUT"
    assert made.path == "/i/tsk_example" and made.headers == {"x-kind": "image_to_video"}
    for bad, why in [
        ('{"body": 1, "method": "DELETE"}', "method must be one of"),
        ('{"body": 1, "path": "/../admin"}', "path must start with /"),
        ('{"body": 1, "headers": {"host": "x"}}', "host is the relay's to set"),
        ("event.data.nope", "transform failed: no field 'nope'"),
        ("[1, 2]", "transform gave a list, not a map"),
    ]:
        with pytest.raises(rules.ExpressionFailed, match=re.escape(why)):
            shaped(bad, envelope)


def _worked_examples() -> list[dict[str, Any]]:
    text = DOC.read_text().split("### Six worked examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    return [tomllib.loads(block)["downstream"][0] for block in blocks]


def test_the_six_worked_examples_are_valid_and_do_what_they_say() -> None:
    examples = {d["name"]: DownstreamConfig.model_validate(d) for d in _worked_examples()}
    assert len(examples) == 6
    for settings in examples.values():
        run(vet_expressions(settings, OPERATOR))
    gold = events.example("task.succeeded")
    silver = events.envelope(
        {**events.example_document("task.succeeded"), "metadata": None}, "2026-01-01T00:00:00Z"
    )
    assert verdict(examples["gold"].filter or "", gold).matched
    assert not verdict(examples["gold"].filter or "", silver).matched
    failed = events.example("task.failed")
    for name in ("linear", "airtable", "n8n", "audit"):
        assert shaped(examples[name].transform or "", failed).body.startswith(b"{"), name
    audit = shaped(examples["audit"].transform or "", failed)
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


def test_only_the_fields_the_expressions_read_are_sent_and_they_answer_alike() -> None:
    assert rules.wanted('event.type == "a"', "{'k': event.data.metadata.tier}") == (
        frozenset({"data", "type"}),
        frozenset({"metadata"}),
    )
    assert rules.wanted('"event.data" == event.data.kind') == (
        frozenset({"data"}),
        frozenset({"kind"}),
    )
    # A comment is no code, and a quote in it opens no string.
    assert rules.wanted('event.type == "a" // event.data "\n|| event.data.kind == ""') == (
        frozenset({"data", "type"}),
        frozenset({"kind"}),
    )
    for whole in ("event", "event.data", "event.data['state']", "has(event.data) && true"):
        assert rules.wanted(whole) is None, whole
    envelope = events.example("task.failed")
    for source in (GOLD_CHECK, 'event.data.state == "failed" && size(event.data.outputs) == 0'):
        pruned = rules.variables(envelope, rules.wanted(source))
        assert pruned != rules.variables(envelope)
        assert verdict(source, envelope) == verdict(f"{source} // event", envelope)
    assert verdict("event.data.nope == 1", envelope).reason == "filter failed: no field 'nope'"


GOLD_CHECK = 'has(event.data.metadata.tier) && event.data.metadata.tier == "gold"'
# Issue 61: 62 bytes that held the loop ~42 s on a task's own 1,000-item metadata.
COSTLY = "event.data.metadata.l.map(x, event.data.metadata.l).size() > 0"
# Issue 72: macros nested behind comments, and a regex compiled at each `matches`.
HUNDRED = "[" + ", ".join(["0"] * 100) + "]"
COMMENTED = f"{HUNDRED}.map //\n(x, {HUNDRED}.map //\n(y, {HUNDRED}.map //\n(z, 1))).size() > 0"
REGEX = "[" + ", ".join(["0"] * 300) + "].exists(x, 'a'.matches('\\\\w{200}'))"
CPU = "stopped: it used more than 80 ms of CPU"


def _with_metadata(**metadata: Any) -> dict[str, Any]:
    envelope = events.example("task.succeeded")
    envelope["data"]["metadata"] = metadata
    return envelope


def test_an_evaluation_past_its_cpu_budget_is_stopped_and_says_so() -> None:
    envelope = events.example("task.succeeded")
    for source in (COMMENTED, REGEX):
        stopped = verdict(source, envelope)
        assert stopped == rules.Verdict(False, f"filter {CPU}", cut=True), source
    transform = "{'n': " + COMMENTED + "}"
    cut, made = evaluate(envelope, filter="true", transform=transform)
    assert cut == rules.Verdict(False, f"filter and transform {CPU}", cut=True)
    assert made is None
    big = _with_metadata(l=[0] * 1000)
    assert verdict(COSTLY, big) == rules.Verdict(False, f"filter {CPU}", cut=True)
    # The next evaluation gets a process of its own, and the same filter runs on 10 items.
    assert verdict(COSTLY, _with_metadata(l=[0] * 10)).matched


def test_a_hostile_evaluation_in_a_batch_fails_none_of_the_honest_beside_it() -> None:
    """Asked in one turn, they go as one batch: each hostile one is stopped on its own budget,
    the honest ones around it answered (asked again after each death)."""
    envelope = events.example("task.succeeded")
    sources = ["true", COMMENTED, 'event.type == "task.succeeded"', REGEX, "false", "true"]

    async def together() -> list[tuple[rules.Verdict, rules.Shaped | None]]:
        return await asyncio.gather(
            *(evaluation.evaluate(s, "{'t': event.type}", envelope, OPERATOR) for s in sources)
        )

    answered = run(together())
    verdicts = [v for v, _ in answered]
    cut = rules.Verdict(False, f"filter and transform {CPU}", cut=True)
    assert verdicts == [
        rules.MATCHED,
        cut,
        rules.MATCHED,
        cut,
        rules.Verdict(False, rules.REFUSED),
        rules.MATCHED,
    ]
    bodies = [made.body if made else None for _, made in answered]
    body = b'{"t":"task.succeeded"}'
    assert bodies == [body, None, body, None, None, body]


def test_a_caller_that_leaves_costs_the_others_nothing_and_the_line_is_bounded() -> None:
    """A request whose caller went (a delivery cancelled at shutdown) is left out of the
    batch; past MAX_WAITING waiting beyond the processes' room, a request is refused at once
    as an overload, and those in line are all answered."""
    envelope = events.example("task.succeeded")

    async def scenario() -> tuple[list[bool], int, list[rules.Verdict]]:
        asked = [
            asyncio.ensure_future(evaluation.evaluate("true", None, envelope, OPERATOR))
            for _ in range(pool.SIZE * pool.DEPTH + pool.MAX_WAITING + 5)
        ]
        await asyncio.sleep(0)  # each has asked: the line is full
        asked[0].cancel()
        done = await asyncio.gather(*asked, return_exceptions=True)
        overloaded = sum(isinstance(d, Overloaded) for d in done)
        verdicts = [d[0] for d in done if isinstance(d, tuple)]
        return [isinstance(d, asyncio.CancelledError) for d in done[:1]], overloaded, verdicts

    cancelled, overloaded, verdicts = run(scenario())
    assert cancelled == [True]
    assert overloaded == 5
    assert verdicts == [rules.MATCHED] * (pool.SIZE * pool.DEPTH + pool.MAX_WAITING - 1)


def test_an_answer_is_kept_for_the_same_request_and_a_stop_never_is() -> None:
    """CEL is pure: the same sources on the same fields answer the same, so a filter that
    meets the same event type again is not asked of a process again. A stop is not kept:
    the budget is CPU time, which a busy machine may pass once."""
    envelope = events.example("task.succeeded")
    source = 'event.type == "task.succeeded" && event.data.state == "succeeded"'
    assert verdict(source, envelope).matched
    run(_closed())  # the processes gone: an answer now can only be one kept
    assert verdict(source, envelope).matched
    assert run(_workers()) == []
    assert verdict(COSTLY, _with_metadata(l=[0] * 1000)).cut
    assert verdict(COSTLY, _with_metadata(l=[0] * 1000)).cut
    assert run(_workers()), "a stop is asked of a process each time"


async def _workers() -> list[int]:
    return pool.pool().workers()


def test_a_process_that_ended_is_told_in_words() -> None:
    assert pool.ended(-signal.SIGPROF) == "it used more than 80 ms of CPU"
    assert pool.ended(-signal.SIGABRT) == "it needed more than 512 MiB of memory"
    assert "ended unexpectedly" in pool.ended(1)


def test_a_transform_making_a_body_over_1_mib_is_over_budget() -> None:
    envelope = _with_metadata(s="x" * 13_000)
    giant = "{'c': [" + ", ".join(["event.data.metadata.s"] * 100) + "]}"
    with pytest.raises(rules.OverBudget, match=r"body of 1,30\d,\d+ bytes, over 1,048,576"):
        shaped(giant, envelope)
    enveloped = "{'body': [" + ", ".join(["event.data.metadata.s"] * 90) + "]}"
    with pytest.raises(rules.OverBudget, match="over 1,048,576"):
        shaped(enveloped, envelope)
    # Over budget is a failure on the event too: a delivery ends with it as any other.
    assert issubclass(rules.OverBudget, rules.ExpressionFailed)
    assert len(shaped("{'c': [event.data.metadata.s]}", envelope).body) > 13_000


def test_the_config_file_is_compiled_in_a_process_before_the_relay_serves() -> None:
    given = [
        DownstreamConfig.model_validate({"name": n, "url": "https://x.example/h", **spec})
        for n, spec in (
            ("ok", {"filter": "true", "transform": "{}"}),
            ("bad", {"filter": "event.type =="}),
            ("text", {"transform": '"text"'}),
            ("slow", {"transform": "{'n': " + COMMENTED + "}"}),
        )
    ]
    found = vet_now(given)
    assert found[0] is None
    assert found[1] == (
        "downstream 'bad': filter is not valid CEL at 1:14: the expression ends after `==`,"
        " where a value should follow"
    )
    assert found[2] == "downstream 'text': transform must give a map, and gives a str at 1:1"
    assert found[3] == f"downstream 'slow': transform {CPU}"
