"""The four AWS destinations' addresses and names, read without any AWS library: what a
`url` of each format must look like, the region it names, whether it is FIFO, and the S3
key an event is written under. The config and the API check with these; the publishers
(receiver/downstreams/brokers/aws.py and its neighbours) are loaded only when configured."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from receiver.config.targets import TARGET_FIELD, placeholders

AWS_FORMATS = ("sqs", "sns", "eventbridge", "s3")
DEFAULT_KEY = "{date}/{task_id}/{event_id}.json"
KEY_PLACEHOLDERS = frozenset({"date", "task_id", "event_id", "state", "kind"})
# What the URL of each format is, as the config's one-line error says it.
WANTED = {
    "sqs": "the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
    "sns": "the topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
    "eventbridge": "the event bus name or ARN",
    "s3": "s3://BUCKET/PREFIX",
}
# A URL of each format that passes the checks, for a row whose real URL is sealed away.
STAND_INS = {
    "sqs": "https://sqs.us-east-1.amazonaws.com/000000000000/sealed",
    "sns": "arn:aws:sns:us-east-1:000000000000:sealed",
    "eventbridge": "sealed",
    "s3": "s3://sealed/",
}

_ARN = re.compile(
    r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):\d{12}:(?P<rest>.+)$"
)
_BUS_NAME = re.compile(r"^[A-Za-z0-9._\-/]{1,256}$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_QUEUE_PATH = re.compile(r"^/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# sqs.eu-west-1.amazonaws.com, or the legacy eu-west-1.queue.amazonaws.com.
_SQS_HOST = re.compile(r"^(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$")


def check_aws_url(fmt: str, url: str) -> str:
    """`url` when it is a valid address for `fmt`; else ValueError saying what it must be."""
    if not _valid(fmt, url):
        raise ValueError(f"a {fmt} downstream's url is {WANTED[fmt]}")
    if fmt == "s3":
        check_s3_path("its prefix", url.removeprefix("s3://").partition("/")[2])
    return url


def _valid(fmt: str, url: str) -> bool:
    if fmt == "sqs":
        parts = urlsplit(url)
        # http only for a local stand-in (moto, LocalStack); AWS itself answers on https.
        ok_scheme = parts.scheme in ("https", "http")
        return ok_scheme and bool(parts.hostname) and bool(_QUEUE_PATH.match(parts.path))
    if fmt == "sns":
        arn = _ARN.match(url)
        return bool(arn and arn["service"] == "sns" and _TOPIC_NAME.match(arn["rest"]))
    if fmt == "eventbridge":
        arn = _ARN.match(url)
        if arn is not None:
            return arn["service"] == "events" and arn["rest"].startswith("event-bus/")
        return not url.startswith("arn:") and bool(_BUS_NAME.match(url))
    if fmt == "s3":
        bucket, _ = s3_location(url)
        return url.startswith("s3://") and bool(_BUCKET.match(bucket))
    return False


def check_s3_path(where: str, path: str) -> None:
    """A key or prefix S3 takes as written: `..`, `//` or a leading `/` would be sent as is
    (`PUT /bucket/p/../../other/...`), and read by a proxy or a stand-in as another path."""
    if ".." in path or "//" in path or path.startswith("/"):
        raise ValueError(f"{where}: must not hold `..` or `//`, nor start with /")


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and the key prefix (with its trailing slash, or empty) of `s3://B/P`."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def region_in(fmt: str, url: str) -> str | None:
    """The region a queue URL or an ARN names; None: the AWS default (environment or
    profile) applies."""
    if fmt == "sqs":
        host = urlsplit(url).hostname or ""
        if found := _SQS_HOST.match(host):
            return found[1] or found[2]
        return None
    if arn := _ARN.match(url):
        return arn["region"] or None
    return None


def is_fifo(fmt: str, url: str) -> bool:
    """A FIFO queue or topic: its name ends in `.fifo`."""
    return fmt in ("sqs", "sns") and url.rstrip("/").endswith(".fifo")


def check_key(template: str) -> str:
    """A key template that names the event (so that each event has its own object, and a
    replay the same one) and only known placeholders."""
    try:
        names = placeholders(template)
    except ValueError as exc:
        raise ValueError(f"key: {exc}") from None
    if unknown := names - KEY_PLACEHOLDERS:
        known = ", ".join(f"{{{n}}}" for n in sorted(KEY_PLACEHOLDERS))
        raise ValueError(f"key: unknown placeholder {{{sorted(unknown)[0]}}} (known: {known})")
    if "event_id" not in names:
        raise ValueError("key: must hold {event_id}, so that each event is its own object")
    check_s3_path("key", template)
    return template


def object_key(prefix: str, template: str, event: dict[str, Any]) -> str:
    """Where an event is written: the same key for every attempt and replay of it (the
    date is the event's own, never the attempt's)."""
    occurred = event.get("occurred_at")
    values = {key: str(event.get(key) or "") for key in KEY_PLACEHOLDERS}
    day = datetime.fromtimestamp(float(occurred), UTC).strftime("%Y-%m-%d") if occurred else ""
    values["date"] = day or "undated"
    return prefix + template.format_map(values)


def xray_trace_header(traceparent: str | None) -> str | None:
    """W3C `00-<trace>-<span>-<flags>` as X-Ray's `Root=1-<8>-<24>;Parent=<span>;Sampled=1`."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace, span, flags = parts[1], parts[2], parts[3]
    sampled = int(flags, 16) & 1 if all(c in "0123456789abcdef" for c in flags) else 0
    return f"Root=1-{trace[:8]}-{trace[8:]};Parent={span};Sampled={sampled}"


def target_addresses(d: Any) -> list[str]:
    """Where an AWS or broker downstream sends, as the operator's patterns for apps match it
    (`delivery.allowed_targets`): an AWS format's URL, ARN or bus name as written (S3's as
    `s3://BUCKET/PREFIX/`), and its `endpoint_url` when set; a broker's server, never its
    credentials, then what the client reads as the target: `nats://HOST:PORT/SUBJECT`,
    `mqtt://HOST:PORT/TOPIC`, `redis://HOST:PORT/DB/STREAM`, and
    `amqp://HOST:PORT/VHOST/EXCHANGE/ROUTING_KEY` (vhost and exchange percent-encoded, as
    RabbitMQ's HTTP API writes them: `%2F`, `amq.default`). Empty for the HTTP formats."""
    fmt, url = str(d.format), str(d.url or "")
    if fmt in AWS_FORMATS:
        bucket, prefix = s3_location(url)
        address = f"s3://{bucket}/{prefix}" if fmt == "s3" else url
        return [address] + ([d.endpoint_url] if d.endpoint_url else [])
    if fmt not in TARGET_FIELD:
        return []
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    server = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    name = str(getattr(d, TARGET_FIELD[fmt]))
    if fmt == "redis":  # the database: the query's `db`, else the path's number
        db = parse_qs(parts.query).get("db", [parts.path.strip("/") or "0"])[-1]
        return [f"{server}/{quote(db, safe='')}/{name}"]
    if fmt == "amqp":
        vhost = quote(unquote(parts.path[1:]) or "/", safe="")
        exchange = quote(d.exchange, safe="") if d.exchange else "amq.default"
        return [f"{server}/{vhost}/{exchange}/{name}"]
    return [f"{server}/{name}"]


def unallowed_target(d: Any, patterns: list[str]) -> str | None:
    """The first address of `d` no pattern matches (`*` any text, `/` included)."""
    for address in target_addresses(d):
        if not any(fnmatchcase(address, pattern) for pattern in patterns):
            return address
    return None
