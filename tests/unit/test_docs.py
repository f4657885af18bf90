"""The README and docs/ say what the code does: the formats, the number of migrations, every
config key with its default, the variables the example config needs, and every path and
link they name. A change to the code that the docs miss fails here."""

from __future__ import annotations

import re
import subprocess
import tomllib
import typing
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from pydantic import BaseModel

from receiver.config import DownstreamConfig, Settings, load
from receiver.config.names import place
from receiver.destinations.aws import AwsDestination
from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.registry import PROVIDERS, RENDERED
from receiver.kernel.errors import ConfigError

BROKERS = [f for f, p in PROVIDERS.items() if isinstance(p, BrokerDestination)]
AWS_FORMATS = [f for f, p in PROVIDERS.items() if isinstance(p, AwsDestination)]
ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    *(
        f"twenty-{unit}"
        for unit in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    ),
    "thirty",
    *(
        f"thirty-{unit}"
        for unit in ("one", "two", "three", "four", "five", "six", "seven", "eight")
    ),
]
NUMBER = {word: n for n, word in enumerate(WORDS)}
TICKED = re.compile(r"`([^`]+)`")


def text(name: str) -> str:
    return (ROOT / name).read_text()


def section(doc: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of any level."""
    start = doc.index(f"{heading}\n")
    following = re.search(r"^#", doc[start + len(heading) :], re.MULTILINE)
    return doc[start : start + len(heading) + following.start()] if following else doc[start:]


def test_the_formats_named_are_the_renderers_and_the_brokers() -> None:
    configurable = set(typing.get_args(DownstreamConfig.model_fields["format"].annotation))
    read_by_pull = {f for f, p in PROVIDERS.items() if p.metadata.sent == "read"}
    assert configurable == set(RENDERED) | set(BROKERS) | set(AWS_FORMATS) | read_by_pull
    # The README names every destination, and counts them.
    listed = re.search(
        r"fans results out\*\* to your downstreams, of (\w+) kinds: (.+?) dead-letter state",
        README.read_text(),
        re.DOTALL,
    )
    assert listed is not None
    assert NUMBER[listed[1]] == len(PROVIDERS)
    assert set(TICKED.findall(listed[2])) - {"Retry-After"} == set(PROVIDERS)
    rendered = WORDS[len(RENDERED)]
    delivery = section(text("docs/delivery.md"), f"## The {rendered} formats")
    assert {row[0] for row in _rows(delivery)} == {f"`{f}`" for f in RENDERED}
    [row] = [
        r
        for r in _rows(section(text("docs/reference/configuration.md"), "## [[downstream]]"))
        if r[0] == "`format`"
    ]
    assert set(re.findall(r'"(\w+)"', row[1])) == configurable
    brokers = section(text("docs/delivery.md"), "## Brokers")
    assert {row[0] for row in _rows(brokers)} == {f"`{f}`" for f in BROKERS}
    aws = section(text("docs/delivery.md"), "## AWS: SQS, SNS, EventBridge, Kinesis and S3")
    assert {row[0] for row in _rows(aws)} == {f"`{f}`" for f in AWS_FORMATS}


def test_the_readme_names_every_extra() -> None:
    extras = tomllib.loads(text("pyproject.toml"))["project"]["optional-dependencies"]
    said = re.search(r"The rest are extras (.+?) each\s+imported", README.read_text(), re.DOTALL)
    assert said is not None
    named = set(TICKED.findall(said[1]))
    assert set(extras) <= named, sorted(set(extras) - named)


def test_the_migrations_counted_are_the_files() -> None:
    files = sorted((ROOT / "receiver/kernel/store/migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))
    counted = r"`receiver/kernel/store/migrations/`,\s+([\w-]+) today"
    said = re.search(counted, text("docs/operations.md"))
    assert said is not None and NUMBER[said[1]] == len(files), [f.name for f in files]


def _rows(markdown: str) -> list[list[str]]:
    """The cells of every table row, but the tables' headers."""
    rows: list[list[str]] = []
    for line in markdown.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]  # not `\|`
        if all(set(c) <= set("-:") for c in cells):
            rows.pop()  # the header above this rule
        else:
            rows.append(cells)
    return rows


def _shown(value: Any) -> str:
    """A default as the docs show it: TOML's spelling, without the trailing `.0` of a float."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_quoted(v) for v in value) + "]"
    return str(value).rstrip("/")  # a URL


def _quoted(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else _shown(value)


def _documented(rows: list[list[str]]) -> dict[str, str]:
    """key -> documented default, from rows of `key[ / key…] | default[ / default…] | …`."""
    found = {}
    for keys, defaults in rows:
        names, values = keys.split(" / "), defaults.split(" / ")
        if len(values) != len(names):
            values = [defaults] * len(names)  # one value said for all of them
        for name, value in zip(names, values, strict=True):
            found[name] = value.strip("`")
    return found


def _defaults(model: type[BaseModel]) -> dict[str, str]:
    return {
        name: _shown(field.get_default(call_default_factory=True))
        if not field.is_required()
        else "required"
        for name, field in model.model_fields.items()
    }


def test_every_config_key_is_documented_with_its_default() -> None:
    """The reference (docs/reference/configuration.md, written from the model) shows each
    key's default as the file would spell it."""
    doc = text("docs/reference/configuration.md")
    documented = {}
    for cells in _rows(doc):
        key, default = cells[0].strip("`"), cells[2]
        spelled = default.strip("`")
        if spelled.startswith('"') and spelled.endswith('"') and spelled != '""':
            spelled = spelled[1:-1]  # a string: the docs' own spelling has no quotes
        documented[key] = {"unset": "none"}.get(spelled, spelled)
    for name, field in Settings.model_fields.items():
        if name == "downstream":
            continue
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        shown = {
            place(name, key): value.strip('"') if value != '""' else value
            for key, value in _defaults(model).items()
        }
        assert {k: documented[k] for k in shown} == shown, f"[{name}]"
    expected = _defaults(DownstreamConfig)
    expected |= {k: "none" for k, v in expected.items() if v == "None"}
    assert {k: documented[k] for k in expected} == expected


def test_the_readme_exports_what_the_example_config_needs() -> None:
    block = section(README.read_text(), "## Running it for real")
    shaped = {  # values of the form these need; any 16+ characters do for the others
        "ORDERS_WEBHOOK_SECRET": "whsec_" + "c2VjcmV0LWZvci1leGFtcGxlcw==",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T/B/X",
    }
    names = re.findall(r"^export (\w+)=", block, re.MULTILINE)
    exported = {name: shaped.get(name, "x" * 32) for name in names}
    example = str(ROOT / "config.example.toml")
    load(example, exported)
    for name in exported:
        with pytest.raises(ConfigError, match=f"{name} is not set"):
            load(example, {k: v for k, v in exported.items() if k != name})
    required = section(text("docs/configuration.md"), "## Environment variables")
    named = {row[0].strip("`") for row in _rows(required)}
    assert named == set(exported)


def _named() -> list[tuple[str, str, str]]:
    """(doc, kind, path): every relative link, and every repository path named in backticks."""
    named = set()
    for doc in DOCS:
        body = doc.read_text()
        for link in re.findall(r"\]\(([^)\s]+)\)", body):
            if not link.startswith(("http://", "https://")):
                named.add((doc.name, "link", link))
        for token in TICKED.findall(body):
            if "..." in token:
                continue  # a pattern (`receiver/x/...`), not a path
            if ("/" in token and re.fullmatch(r"\.?[\w-]+(/[\w.-]+)*/?", token)) or re.fullmatch(
                r"[\w.-]+\.(py|sql|md|toml|txt|png)", token
            ):
                named.add((doc.name, "path", token))
    return sorted(named)


# The repository's files (tracked, or new and not ignored) and their folders: what git
# ignores (build/, a virtualenv, node_modules) could keep a stale path alive here only.
_LISTED = subprocess.run(
    ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=True,
).stdout.split()
FILES = sorted(
    {f for f in _LISTED if (ROOT / f).exists()}
    | {parent.as_posix() for f in _LISTED for parent in PurePosixPath(f).parents} - {"."}
)


@pytest.mark.parametrize(("doc", "kind", "path"), _named(), ids=[":".join(n) for n in _named()])
def test_every_link_and_path_the_docs_name_exists(doc: str, kind: str, path: str) -> None:
    where = next(d for d in DOCS if d.name == doc).parent
    if kind == "link":
        target, _, anchor = path.partition("#")
        target = target or doc  # `#heading`: a heading of the same page
        assert (where / target).exists(), f"{doc} links to {path}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (where / target).read_text(), re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, f"{doc} links to {path}"
        return
    # From the root, or a part of the tree named by its tail (`adapters/render/` in a walk
    # through receiver/, `store.py` among the store's files).
    tail = path.rstrip("/")
    assert any(f == tail or f.endswith(f"/{tail}") for f in FILES), f"{doc} names {path}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _metric_rows() -> list[str]:
    """Every metric of the reference's table, as `name{label,label}`."""
    found = []
    for name, _, labels, _ in _rows(text("docs/reference/metrics.md")):
        shown = ",".join(TICKED.findall(labels))
        found.append(f"{name.removesuffix('`')}{{{shown}}}`" if shown else name)
    return found


def _exposed() -> dict[str, set[str]]:
    """Every metric /metrics exposes, by its name in the exposition, with its labels."""
    from prometheus_client.metrics import MetricWrapperBase

    from receiver.kernel.observability.metrics import Metrics
    from receiver.outbox.rules.delivery import DELIVERY_STATES, DownstreamLabels

    found: dict[str, set[str]] = {}
    for metric in vars(Metrics(DELIVERY_STATES, DownstreamLabels())).values():
        if isinstance(metric, MetricWrapperBase):
            suffix = "_total" if metric._type == "counter" else ""
            found[metric._name + suffix] = set(metric._labelnames)
    return found


def test_every_metric_row_is_unique_and_matches_what_metrics_exposes() -> None:
    documented: dict[str, set[str]] = {}
    for cell in _metric_rows():
        for name, labels in re.findall(r"`(relay_[a-z_]+)(?:\{([a-z_,]*)\})?`", cell):
            assert name not in documented, f"{name} is documented twice"
            documented[name] = set(filter(None, labels.split(",")))
    assert documented == _exposed()


SCHEMA_QUOTE = re.compile(r"at version (\d+), newer than this release\s+knows \(up to (\d+)\)")


def test_the_schema_numbers_quoted_follow_the_newest_migration() -> None:
    files = sorted((ROOT / "receiver/kernel/store/migrations").glob("[0-9][0-9][0-9][0-9]_*.sql"))
    newest = int(files[-1].name[:4])
    quotes = [(doc.name, m) for doc in DOCS for m in SCHEMA_QUOTE.findall(doc.read_text())]
    assert quotes
    for name, (at, known) in quotes:
        assert (int(known), int(at) > newest) == (newest, True), name


FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
COMMAND = re.compile(r"^(?:\$ )?(?:\.venv/bin/)?receiver( [^`]*)?$")


def _sample_commands() -> list[tuple[str, str]]:
    """Every `receiver ...` the docs show: a line of a code block, or an inline span."""
    found: list[tuple[str, str]] = []
    for doc in DOCS:
        content = doc.read_text()
        lines = [line for block in FENCE.findall(content) for line in block.splitlines()]
        spans = TICKED.findall(FENCE.sub("", content))
        found += [(doc.name, s.strip()) for s in [*lines, *spans] if COMMAND.match(s.strip())]
    return sorted(set(found))


def _check_command(words: list[str]) -> None:
    import click

    from receiver.cli.main import main

    command: click.Command = main
    while words and isinstance(command, click.Group) and not words[0].startswith("-"):
        names = re.split(r"[/|]", words.pop(0))  # `tasks list/show`: both
        ctx = click.Context(command)
        subs = [command.get_command(ctx, name) for name in names]  # imported when named
        for name, sub in zip(names, subs, strict=True):
            assert sub is not None, f"no command {name!r} under {command.name!r}"
        assert subs[0] is not None
        command = subs[0]
    # get_params: the options a command adds as it is read (a downstream's settings) too.
    params = command.get_params(click.Context(command))
    options = {o for p in params for o in [*p.opts, *p.secondary_opts]}
    for word in words:
        option = word.strip("[]").split("=")[0]
        if option.startswith("--"):
            assert option in {*options, "--help"}, f"{command.name} has no option {option}"


@pytest.mark.parametrize(("doc", "line"), _sample_commands())
def test_every_sample_command_is_a_known_command_with_known_options(doc: str, line: str) -> None:
    shown = re.split(r"\s(?:#|&|\|\|?)\s?|\s&$", line.removeprefix("$ "))[0]
    words = shown.split()[1:]
    _check_command(words)


def test_what_the_docs_call_not_shipped_is_no_destination() -> None:
    """A heading that says a kind is not shipped names none the relay has."""
    shipped = {"pubsub": "Pub/Sub", "kafka": "Kafka", "sqs": "SQS", "sns": "SNS"}
    for doc in DOCS:
        for heading in re.findall(r"^#+ Not shipped:(.*)$", doc.read_text(), re.M):
            named = [
                word for kind, word in shipped.items() if kind in PROVIDERS and word in heading
            ]
            assert not named, f"{doc.name}: {heading.strip()} names {named}, which ship"
