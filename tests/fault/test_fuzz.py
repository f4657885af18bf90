"""Bad input: property-based fuzzing of the callback parser and of the live callback route.

The parser may refuse a body only with ParseError, and whatever it does extract must be
storable text (no NUL, no lone surrogate: JSON escapes can spell both). Over HTTP, with a
valid token, no body, content type or size may earn a 5xx, and the service must still be
ready afterwards.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.kernel.errors import ParseError
from receiver.lifecycle.comet import parse_callback
from receiver.lifecycle.rules.task import STATES
from tests.conftest import MakeRelay, webhook
from tests.fault.support import Figures, backend_of, size
from tests.harness import Simulator, Sink, video2video

# Each backend refuses other bytes (PostgreSQL's text takes no NUL): fuzzed on both.
pytestmark = [pytest.mark.fault, pytest.mark.every_backend]

# Sized for CI's two cores: an example costs about 40 ms of CPU (hypothesis's recursive
# strategies, not the parser), and 10,000 were a third of the whole run's CPU; a longer run
# raises it (docs/operations.md).
PURE_EXAMPLES = size("FAULT_FUZZ_EXAMPLES", 2_000)
HTTP_EXAMPLES = size("FAULT_HTTP_FUZZ_EXAMPLES", 400)
# Each fuzz runs as this many tests of a share of its examples: whole, one took 224-269 s of
# its 300 s cap on a quiet machine and passed it on a loaded one; a share takes a quarter,
# and the four spread over the step's workers.
SHARDS = 4
MAX_BODY = 64 * 1024

_WORDS = [
    "SUCCESS",
    "FAILURE",
    "RUNNING",
    "QUEUED",
    "IN_PROGRESS",
    "CANCELLED",
    "THROTTLED",
    "succeeded",
    "failed",
    "pending",
    "Aborted",
    "not_start",
    "bogus",
    "",
]
_DATA_KEYS = [
    "task_id",
    "id",
    "status",
    "state",
    "video_url",
    "url",
    "output",
    "poster",
    "last_frame",
    "msg",
    "message",
    "fail_reason",
    "failure",
    "failureCode",
    "error",
    "progress",
    "data",
    "create_time",
    "update_time",
]
_CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
    "\x7f/\x7f",
]

# Text with the characters JSON can carry but storage can't: NUL and lone surrogates.
_text = st.text(
    st.characters(categories=["Cs"]) | st.sampled_from("\x00\x01\u2028\ufeff") | st.characters(),
    max_size=40,
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | _text
    | st.sampled_from(_WORDS)
    | st.sampled_from(["https://cdn.example/v.mp4", "http://x", "https://\x00.mp4"])
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_DATA_KEYS) | _text, inner, max_size=4)
    ),
    max_leaves=12,
)


def _envelopes(upstream_ids: list[str]) -> st.SearchStrategy[Any]:
    data = st.dictionaries(
        st.sampled_from(_DATA_KEYS),
        st.sampled_from(upstream_ids) | st.sampled_from(_WORDS) | _scalars | _values,
        max_size=6,
    )
    return st.fixed_dictionaries(
        {"data": data | st.builds(json.dumps, data) | _values},
        optional={
            "code": st.sampled_from([200, "200", "success", "error", 500, 0, None]) | _values,
            "msg": _values,
            "message": _values,
            "exec_time": _values,
        },
    )


def _encode(value: Any, ascii_only: bool) -> bytes:
    # Without ensure_ascii a lone surrogate becomes bytes that are not UTF-8: keep them.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _splice(base: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    for at, insert in edits:
        at %= len(base) + 1
        base = base[:at] + insert + base[at + 1 :]
    return base


def bodies(upstream_ids: list[str]) -> st.SearchStrategy[bytes]:
    """Callback bodies from plausible to hostile."""
    valid = _encode(
        {
            "code": 200,
            "msg": "success",
            "data": {
                "task_id": upstream_ids[0],
                "status": "SUCCESS",
                "video_url": "https://cdn.example/v.mp4",
            },
        },
        True,
    )
    deep = st.integers(1, 100_000)
    return st.one_of(
        st.builds(_encode, _envelopes(upstream_ids), st.booleans()),
        st.builds(_encode, _values, st.booleans()),
        st.binary(max_size=200),
        st.builds(
            _splice,
            st.just(valid),
            st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=3)), max_size=4),
        ),
        deep.map(lambda n: b"[" * n + b"]" * n),
        deep.map(lambda n: b'{"code":200,"data":{"status":' + b'{"a":' * n + b"1" + b"}" * (n + 2)),
        # Integer literals past Python's 4300-digit conversion limit.
        st.integers(4_000, 20_000).map(lambda n: b'{"code":' + b"7" * n + b',"data":{}}'),
        st.integers(4_000, 20_000).map(
            lambda n: b'{"data":{"status":"SUCCESS","progress":' + b"9" * n + b"}}"
        ),
        # Escapes that decode to text no store accepts.
        st.sampled_from(["\\u0000", "\\ud800", "\\udfff", "\\ud83d"]).map(
            lambda e: (
                f'{{"code":200,"data":{{"status":"SUCCESS{e}","task_id":"{upstream_ids[0]}",'
                f'"video_url":"https://a/{e}","msg":"{e}"}}}}'
            ).encode()
        ),
    )


def _storable(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@pytest.mark.parametrize("shard", range(SHARDS))
def test_parser_raises_only_parse_error(figures: Figures, shard: int) -> None:
    outcomes: Counter[str] = Counter()
    examples = -(-PURE_EXAMPLES // SHARDS)

    @settings(max_examples=examples, deadline=None, database=None)
    @given(bodies(["sim-task-1", "sim-task-2"]))
    def parse(body: bytes) -> None:
        try:
            _, obs = parse_callback(body)
        except ParseError:
            outcomes["refused"] += 1
            return
        outcomes["parsed"] += 1
        assert obs.state is None or obs.state in STATES
        texts = [
            obs.upstream_status,
            obs.upstream_task_id,
            obs.thumbnail,
            obs.error,
            obs.progress,
            *obs.outputs,
        ]
        assert all(_storable(t) for t in texts), obs
        for link in (*obs.outputs, obs.thumbnail):  # every reader splits them
            assert link is None or urlsplit(link).hostname, link

    started = time.monotonic()
    parse()
    figures.record(
        "fuzz_parser",
        shard=shard,
        examples=sum(outcomes.values()),
        parsed=outcomes["parsed"],
        refused_with_parse_error=outcomes["refused"],
        other_exceptions=0,
        seconds=round(time.monotonic() - started, 1),
    )
    assert sum(outcomes.values()) >= examples


@pytest.mark.parametrize("shard", range(SHARDS))
def test_callback_route_never_answers_5xx(
    make_relay: MakeRelay,
    sim: Simulator,
    sink: Sink,
    figures: Figures,
    storage_url: str,
    shard: int,
) -> None:
    examples = -(-HTTP_EXAMPLES // SHARDS)
    sim.faults(drop_rate=1.0)
    relay = make_relay(
        [webhook(sink)],
        polling={"callback_grace_seconds": 600},
        callbacks={"max_body_bytes": MAX_BODY},
    )
    submitted = relay.submitted(**video2video())
    upstream_id, url = submitted["upstream_task_id"], submitted["callback_url"]
    path = url.removeprefix(relay.url)
    statuses: Counter[int] = Counter()
    http = httpx.Client(base_url=relay.url, timeout=15)

    def chunked(body: bytes) -> Iterator[bytes]:
        for at in range(0, len(body), 16 * 1024):
            yield body[at : at + 16 * 1024]

    oversize = st.integers(MAX_BODY - 4, 4 * MAX_BODY).map(lambda n: b" " * n)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=bodies([upstream_id, "another-upstream-task"]) | oversize,
        content_type=st.sampled_from(_CONTENT_TYPES),
        stream=st.booleans(),
    )
    def post(body: bytes, content_type: str, stream: bool) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        content: bytes | Iterator[bytes] = chunked(body) if stream else body
        response = http.post(path, content=content, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (response.status_code, response.text, body[:200])

    started = time.monotonic()
    try:
        post()
    finally:
        http.close()
    seconds = time.monotonic() - started
    assert relay.anon.get("/readyz").status_code == 200
    task = relay.task(submitted["id"])
    figures.record(
        "fuzz_http",
        backend=backend_of(storage_url),
        shard=shard,
        examples=sum(statuses.values()),
        statuses={str(k): v for k, v in sorted(statuses.items())},
        answers_5xx=sum(v for k, v in statuses.items() if k >= 500),
        events_stored=len(task["events"]),
        # Accepted bodies are claims; the polls they bring are stored apart.
        callback_events_stored=sum(e["source"] == "callback" for e in task["events"]),
        poll_events_stored=sum(e["source"] == "poll" for e in task["events"]),
        readyz_after=200,
        seconds=round(seconds, 1),
    )
    assert sum(statuses.values()) >= examples
