"""The settings model: the TOML file's sections as pydantic models, each refusing keys it
would not use (a typo is an error, not a silently ignored line)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)

from receiver.lifecycle.rules.polling import PollLease, PollRule, PollSchedule
from receiver.lifecycle.rules.task import ClaimPolicy

CHANNEL = r"^[A-Za-z0-9_.:-]{1,64}$"  # a name a task and a downstream share


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The origins whose pages may frame a share link's page (CSP `frame-ancestors`).
FrameOrigin = Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.:\[\]-]+$")]

_IMAGE_DATA = ("data:image/png;", "data:image/jpeg;", "data:image/webp;", "data:image/gif;")
_SVG_DATA = "data:image/svg+xml"
MAX_LOGO_CHARS = 64 * 1024


# How a share link's page looks for the app that made it: its logo and accent colour. Set by
# the app's name (today: the name of the API key that made the link) under
# `server.share_apps`; the fields are named as an app's own settings would be, so they can
# move onto apps unchanged.
class ShareLook(Section):
    # The logo at the top of the page: a `data:image/...` URI (served with the page, so the
    # page asks nothing of another site) or an https URL (the viewer's browser fetches it
    # from there; the page's CSP allows that one origin for images).
    share_logo_url: Annotated[str, Field(max_length=MAX_LOGO_CHARS)] = ""
    # The colour of the bar, the buttons and the links: `#rgb` or `#rrggbb`.
    share_accent: Annotated[str, Field(pattern=r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})?$")] = ""

    @field_validator("share_logo_url")
    @classmethod
    def _logo(cls, value: str) -> str:
        if not value or value.startswith(_IMAGE_DATA) or value.startswith(_SVG_DATA):
            return value
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be a data:image/... URI or an https URL")
        if any(c in value for c in " \"'<>\\"):
            raise ValueError("must be a plain URL (no quotes, spaces or angle brackets)")
        return value

    @property
    def logo_origin(self) -> str | None:
        """The origin the page's images may come from for the logo; None: the page's own."""
        parts = urlsplit(self.share_logo_url)
        return f"https://{parts.netloc}" if parts.scheme == "https" else None


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # How CometAPI reaches this service from outside; callback URLs are built on it.
    public_url: HttpUrl = HttpUrl("http://127.0.0.1:8080")
    admin_token_env: str = "RECEIVER_ADMIN_TOKEN"
    # A request's head must arrive within this of the connection (or of the last answer on
    # it), and its body within `body_timeout_seconds`: slow senders cannot hold sockets.
    head_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    body_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Past this many open connections, new requests are answered 503 at once.
    max_connections: Annotated[int, Field(gt=0)] = 1000
    # The calls to a tenant's URL that requests make the relay wait on (a downstream
    # validated, a test event, from the API, the console or a portal): at most this many in
    # flight per app (the operator's own count as one more app), this many asked a second
    # per key, and this many in all (at most half of `max_connections`); past any, 429 at
    # once (receiver/kernel/net/request_calls.py).
    request_calls_per_app: Annotated[int, Field(gt=0)] = 4
    request_calls_per_key_per_second: Annotated[int, Field(gt=0)] = 10
    request_calls_in_all: Annotated[int, Field(gt=0)] = 64
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs);
    # none by default, so no client can name its own address to the login brake.
    trusted_proxies: list[str] = []
    # Live streams (/v1/stream, /console/stream) open at once in this process, and from one
    # client address: past either, a new one is answered 503, so streams cannot take every
    # connection.
    max_streams: Annotated[int, Field(gt=0)] = 500
    max_streams_per_client: Annotated[int, Field(gt=0)] = 20
    # Share links' streams (anyone with a link) come out of a pool of their own, at most this
    # many of it per link: anonymous viewers never take the operators' room.
    max_share_streams: Annotated[int, Field(gt=0)] = 200
    max_streams_per_share_link: Annotated[int, Field(gt=0)] = 20
    # The origins whose pages may frame a share link's page; none unless listed.
    share_frame_ancestors: list[FrameOrigin] = []
    # A share page's logo and accent colour, by the name of the app (key) that made the link.
    share_apps: dict[str, ShareLook] = {}
    # /metrics's gauges of the store (tasks by state, the outbox, the submit queue) come
    # from a count this often, whatever the scrapers do; 0: a count at every scrape.
    metrics_count_seconds: Annotated[float, Field(ge=0)] = 30.0
    # A text search (`q`) reads at most this many tasks a page, newest first: no index serves
    # a substring of the request, so this is what bounds a search's cost.
    search_window: Annotated[int, Field(gt=0)] = 5000
    # The env var holding a bearer token that /metrics then requires; "": /metrics is open.
    metrics_token_env: str = ""
    # /metrics is served on a listener of its own, `host:port` (port 0: any free one), and
    # not on the public port: its labels name apps and downstreams. "": no such listener.
    # An address other than loopback needs `metrics_token_env`.
    metrics_listen: str = "127.0.0.1:9464"
    # /metrics on the public port as well; only with `metrics_token_env` set.
    metrics_public: bool = False
    # On SIGTERM /readyz answers 503 at once, and requests are served this long more before
    # the socket closes: the time a load balancer takes to stop sending here. 0: at once.
    drain_seconds: Annotated[float, Field(ge=0, le=300)] = 0.0

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(item.strip(), strict=False)) for item in value]
        except ValueError as exc:
            raise ValueError(f"must be IP addresses or CIDR networks ({exc})") from None

    @field_validator("metrics_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            listen_address(value)
        return value

    @property
    def request_calls_cap(self) -> int:
        """The calls in all that requests may make the relay wait on: each holds its
        request's connection, so never more than half of `max_connections`, whatever
        `request_calls_in_all` says, and other requests still get in while they wait."""
        return max(1, min(self.request_calls_in_all, self.max_connections // 2))

    @model_validator(mode="after")
    def _metrics_beyond_loopback_with_a_token(self) -> ServerConfig:
        if self.metrics_public and not self.metrics_token_env:
            raise ValueError(
                "metrics_public = true needs metrics_token_env: the public port serves"
                " /metrics only to a scraper with the token"
            )
        address = self.metrics_address
        if (
            address
            and not ipaddress.ip_address(address[0]).is_loopback
            and not self.metrics_token_env
        ):
            raise ValueError(
                f"metrics_listen = {self.metrics_listen!r} needs metrics_token_env: /metrics"
                " names every app and downstream, so off loopback it is served only to a"
                " scraper with the token"
            )
        return self

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where /metrics's own listener binds; None: it has none."""
        return listen_address(self.metrics_listen) if self.metrics_listen else None


def listen_address(value: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9464` for IPv6) as a pair; ValueError saying what is wrong."""
    host, colon, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not colon or not 0 <= number <= 65535:
        raise ValueError("must be an IP address and a port, e.g. 127.0.0.1:9464")
    return host, number


class UpstreamConfig(Section):
    base_url: HttpUrl = HttpUrl("https://api.cometapi.com")
    api_key_env: str = "COMETAPI_KEY"
    runway_version: str = "2024-11-06"
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Tasks running at CometAPI at once (sent and not ended), counted over every replica;
    # the rest wait in the submit queue, in submission order. 0: no cap.
    max_concurrent_tasks: Annotated[int, Field(ge=0)] = 0
    # A refused send (429, 502, 503, 504, no answer) is tried again after a wait that
    # doubles from the first to the last value; a Retry-After can only lengthen it.
    submit_retry_initial_seconds: Annotated[float, Field(gt=0)] = 2.0
    submit_retry_max_seconds: Annotated[float, Field(gt=0)] = 120.0
    # A task CometAPI has had no room for this long since it was queued fails, with the
    # last reason.
    submit_give_up_seconds: Annotated[float, Field(gt=0)] = 6 * 3600.0
    # CometAPI's Retry-After is honoured up to this: a wait it asks for beyond it (or an
    # unreadable one, such as `inf`) is cut to it, for this task (and, after a 429, for
    # every other send).
    max_retry_after_seconds: Annotated[float, Field(ge=0)] = 15 * 60.0
    # A task that failed upstream with a code Runway calls worth another try
    # (INTERNAL.BAD_OUTPUT.*, INTERNAL) is sent again as a new upstream task, at most this
    # many times.
    resubmit_failed: Annotated[int, Field(ge=0)] = 0


class CallbackConfig(Section):
    secret_env: str = "RECEIVER_SECRET"
    # Older secrets still verify tokens they signed; the current one signs new tokens.
    previous_secret_envs: list[str] = []
    max_age_seconds: Annotated[int, Field(gt=0)] = 2 * 24 * 3600
    max_body_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    # CometAPI does not sign callbacks: by default a callback only makes the relay ask
    # CometAPI, and only CometAPI's answer changes a task. True applies the body at once
    # (anyone holding a callback URL can then finish its task with outputs of their choice).
    trust_body: bool = False
    # How long a callback's claim may wait for CometAPI to agree before it is judged.
    corroborate_seconds: Annotated[float, Field(gt=0)] = 120.0
    # Callbacks bring a poll forward, but never closer than this to the previous poll.
    min_poll_gap_seconds: Annotated[float, Field(ge=0)] = 1.0
    # A callback's request asks CometAPI at once and records its answer with the claim, in
    # one transaction, when it answers within this; else the claim is kept alone and its
    # poll goes on after the answer (0: never asked in the request).
    ask_within_seconds: Annotated[float, Field(ge=0, le=30)] = 2.0
    # Callback bodies kept per task: past either bound a callback is answered and counted
    # (`over_limit`) but not stored, so one leaked URL cannot grow the store without end.
    max_history_per_task: Annotated[int, Field(gt=0)] = 100
    max_history_bytes_per_task: Annotated[int, Field(gt=0)] = 1024 * 1024

    def claim_policy(self) -> ClaimPolicy:
        """How a callback's claim is judged, as this section sets it."""
        return ClaimPolicy(
            self.trust_body,
            self.corroborate_seconds,
            self.min_poll_gap_seconds,
            self.max_history_per_task,
            self.max_history_bytes_per_task,
        )


class PollingConfig(Section):
    callback_grace_seconds: Annotated[float, Field(ge=0)] = 600.0
    initial_delay_seconds: Annotated[float, Field(ge=0)] = 5.0
    interval_seconds: Annotated[float, Field(gt=0)] = 10.0
    max_interval_seconds: Annotated[float, Field(gt=0)] = 120.0
    backoff_factor: Annotated[float, Field(ge=1)] = 1.5
    task_not_exist_grace_seconds: Annotated[float, Field(ge=0)] = 60.0
    give_up_after_seconds: Annotated[float, Field(gt=0)] = 6 * 3600.0
    scan_seconds: Annotated[float, Field(gt=0)] = 1.0
    batch_size: Annotated[int, Field(gt=0)] = 50
    poll_lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    # CometAPI is asked at most this often over every replica, the callbacks' own polls
    # included; the due polls nearest their task's end go first. 0: no budget (only
    # CometAPI's 429 holds polls), since the account's rate is CometAPI's to say.
    max_per_second: Annotated[float, Field(ge=0)] = 0.0
    # The polls of a task CometAPI is working on (receiver/lifecycle/rules/polling.py):
    # every near_gap across the window where its end is expected, at most running_gap
    # apart while it runs, waiting_gap while it has not started, never past the ceiling.
    near_gap_seconds: Annotated[float, Field(gt=0)] = 2.0
    running_gap_seconds: Annotated[float, Field(gt=0)] = 12.0
    waiting_gap_seconds: Annotated[float, Field(gt=0)] = 5.0
    ceiling_seconds: Annotated[float, Field(gt=0)] = 60.0
    # A callback-route task whose callback has not come by where such tasks usually end
    # is polled this many times, this far apart, before the grace period holds again.
    lost_callback_polls: Annotated[int, Field(ge=0)] = 3
    lost_callback_gap_seconds: Annotated[float, Field(gt=0)] = 8.0

    def lease(self, owner: str) -> PollLease:
        """How the process `owner` leases the polls it makes, and the budget they come
        out of."""
        return PollLease(
            owner, self.poll_lease_seconds, self.ceiling_seconds, self.max_per_second or None
        )

    def rule(self) -> PollRule:
        """The poll timing rule this section sets."""
        return PollRule(
            near_gap=self.near_gap_seconds,
            waiting_gap=self.waiting_gap_seconds,
            ceiling=self.ceiling_seconds,
            running_gap=min(self.running_gap_seconds, self.ceiling_seconds),
        )

    def schedule(self) -> PollSchedule:
        """When the poller asks about a task again, after each poll."""
        rule, gap = self.rule(), self.lost_callback_gap_seconds
        return PollSchedule(
            rule,
            replace(rule, near_gap=gap, running_gap=max(gap, rule.running_gap)),
            self.interval_seconds,
            self.backoff_factor,
            self.max_interval_seconds,
            self.callback_grace_seconds,
            self.lost_callback_polls,
        )


class DeliveryConfig(Section):
    # Seconds to wait before each retry; the first attempt is immediate.
    retry_schedule: list[Annotated[float, Field(ge=0)]] = [5, 30, 120, 600, 1800, 7200]
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    max_downstream_retry_after_seconds: Annotated[float, Field(ge=0)] = 3600.0
    # A CloudEvents webhook whose endpoint's handshake answer does not allow the relay is
    # paused, and asked again on its own after each of these waits in turn (the last one
    # repeated) until it allows; no answer at all is a failed attempt, on `retry_schedule`.
    handshake_ask_again_schedule: Annotated[
        list[Annotated[float, Field(gt=0)]], Field(min_length=1)
    ] = [60, 300, 900, 3600]
    # Under load each attempt spans several turns of a busy event loop: at 16 in flight the
    # outbox fell behind 1,800 callbacks/s in the bench, at 64 it kept up.
    concurrency: Annotated[int, Field(gt=0)] = 64
    outbox_scan_seconds: Annotated[float, Field(gt=0)] = 1.0
    attempt_lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 10.0
    # False when `receiver deliver` runs the fan-out in a process of its own.
    in_process: bool = True
    # A task's own webhook (`webhook` on submit): the operator's own tasks' signed with the
    # secret in this env var (such a task is refused while it is unset), an app's with the
    # app's own keys (GET /v1/webhooks/default/secret); each app's attempts bounded apart.
    task_webhook_secret_env: str = "RECEIVER_WEBHOOK_SECRET"
    task_webhook_timeout: Annotated[float, Field(gt=0)] = 10.0
    task_webhook_max_in_flight: Annotated[int, Field(gt=0)] = 32
    # At most one `progress` event per task this often: a newer figure waits for the next.
    progress_interval_seconds: Annotated[float, Field(ge=0)] = 10.0
    # URLs that come in through the API (a task's webhook, a downstream made through the
    # API) may reach private, loopback, link-local or metadata addresses only when this is
    # true (tests, a demo on one host).
    allow_private_networks: bool = False
    # An HTTP proxy every webhook and chat delivery (and test event) goes through, so that
    # they all leave from its one address; "": the environment's HTTPS_PROXY for the
    # config file's downstreams. A target from the API is still judged by its resolved
    # address before it is sent.
    proxy: Annotated[str, Field(pattern=r"^(https?://[^/?#\s]+/?)?$")] = ""
    # Names (globs, `*` any text) a URL from the API may have that the relay cannot resolve
    # to public addresses and `proxy` resolves in its own network: any other such name is
    # refused before the proxy sees it.
    proxy_names: list[Annotated[str, Field(min_length=1, max_length=253)]] = []
    # After `rotate-secret`, deliveries to a downstream made through the API carry the old
    # signature beside the new one this long (Svix's overlap), so receivers can switch.
    rotation_overlap_seconds: Annotated[float, Field(ge=0)] = 24 * 3600.0
    # Glob patterns (`*` any text) an AWS or broker downstream made with an app's key must
    # match, for every app and per app name (docs/delivery.md#what-an-app-may-name). None:
    # an app's key makes no such downstream; the operator's are never checked.
    allowed_targets: list[Annotated[str, Field(min_length=1, max_length=2048)]] = []
    allowed_targets_by_app: dict[str, list[Annotated[str, Field(min_length=1)]]] = {}
    # A CloudEvent's `type` is this prefix and the event's type (`task.succeeded`); its
    # `source` this URI ("": the relay's `public_url`), with `/apps/<app>` for an app's.
    cloudevents_type_prefix: Annotated[str, Field(max_length=200, pattern=r"^[^\s]*$")] = (
        "com.runway-relay."
    )
    cloudevents_source: Annotated[str, Field(max_length=2048, pattern=r"^([^\s]+)?$")] = ""


class MediaConfig(Section):
    """Copies of finished renders, made before the provider's links expire (24-48 h)."""

    enabled: bool = False
    store: Literal["local", "s3"] = "local"
    dir: str = "media"
    # store = "s3": any S3-compatible bucket. The keys are read from the environment
    # variables named here; both "" leaves them to the AWS chain (env, instance role).
    bucket: Annotated[str, Field(validate_default=True)] = ""
    prefix: str = ""
    endpoint_url: str = ""  # "" for AWS itself; MinIO, R2, Ceph...: their URL
    region: str = "us-east-1"
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: Annotated[str, Field(validate_default=True)] = "AWS_SECRET_ACCESS_KEY"
    # True: /media/<token> answers 307 to a presigned URL of the bucket (valid as long as the
    # token, at most 7 days); false: the relay streams the object itself, Range included.
    presign: bool = True
    max_bytes: Annotated[int, Field(gt=0)] = 2 * 1024**3
    # Downloads go to public addresses only, unless this is set (tests, the demo).
    allow_private_sources: bool = False
    # How long a signed /media link stays valid.
    url_ttl_seconds: Annotated[int, Field(gt=0)] = 30 * 24 * 3600
    # A copy that has not succeeded by then is given up: the event goes out with the
    # original links and `"media": {"status": "failed", "reason": ...}`.
    wait_seconds: Annotated[float, Field(gt=0)] = 600.0
    # One attempt at a copy (every file of it), cut short at `wait_seconds`.
    download_timeout_seconds: Annotated[float, Field(gt=0)] = 900.0
    # A worker's claim on a copy, renewed while the copy goes on: a killed worker's copies
    # are taken up again within this.
    mirror_lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    retention_days: Annotated[float, Field(gt=0)] = 90.0
    mirror_scan_seconds: Annotated[float, Field(gt=0)] = 1.0
    # Runway's ephemeral uploads (/runwayml/v1/uploads): the bytes each key (and the admin
    # token) may upload in any hour, a rolling window; past it, 429. 0: no quota.
    upload_bytes_per_hour: Annotated[int, Field(ge=0)] = 1024**3

    @field_validator("endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, or empty for AWS")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket_for_s3(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("store") == "s3" and not value.strip():
            raise ValueError('must be set when media.store = "s3"')
        return value

    @field_validator("secret_access_key_env")
    @classmethod
    def _both_key_names_or_neither(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("store") == "s3" and bool(value) != bool(
            info.data.get("access_key_id_env")
        ):
            raise ValueError(
                'set it and media.access_key_id_env both, or both to ""'
                " for the AWS credential chain"
            )
        return value


class StorageConfig(Section):
    url: str = "sqlite:///runway-relay.db"
    # How long a request waits on PostgreSQL before it is answered 503 (the database away,
    # or too slow): callers hear so rather than queue behind stuck connections.
    answer_within_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        try:  # read here, or the first to read it (the log's secrets) fails in a traceback
            urlsplit(value).port  # noqa: B018 - reading the port is the check
        except ValueError as exc:  # never urllib's words: they may quote a password
            port = "Port" in str(exc)
            fault = "its port is not a number up to 65535" if port else "its host is not valid"
            raise ValueError(
                f"cannot be read, {fault} (a password's / ? # @ : [ ] are written %-encoded)"
            ) from None
        return value

    @property
    def password(self) -> str | None:
        """The database password the URL holds, in its user part or as `?password=`: a
        secret like the others, kept out of every line and answer."""
        parts = urlsplit(self.url)
        given = parse_qs(parts.query).get("password", [])
        return parts.password or (given[0] if given else None)


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class ConsoleConfig(Section):
    """The operator console at /console."""

    # How long a login lasts; a new admin token ends every session at once.
    session_seconds: Annotated[int, Field(gt=0)] = 12 * 3600
    # How long an app's portal session lasts once its link is opened (docs/apps.md).
    portal_session_seconds: Annotated[int, Field(gt=0)] = 3600
    # Failed logins from one client address within a minute before it must wait.
    login_attempts_per_minute: Annotated[int, Field(gt=0)] = 5
    # Failed logins from every address together within a minute past which each address
    # that has failed must wait (one failure a minute each); clean ones are still heard.
    global_login_failures_per_minute: Annotated[int, Field(gt=0)] = 20


class RetentionConfig(Section):
    """How long ended tasks are kept (receiver/retention/rules.py has the rules)."""

    enabled: bool = True
    # A task that ended this long ago goes, with its events, raw bodies, outbox rows,
    # attempts and media records; one that has not ended is never pruned.
    task_days: Annotated[float, Field(gt=0)] = 90.0
    # A dead letter keeps its task this long after it died (for replay), if that is longer.
    dead_letter_days: Annotated[float, Field(gt=0)] = 90.0
    # How often a replica looks for what to prune; only one prunes at a time.
    prune_interval_seconds: Annotated[float, Field(gt=0)] = 600.0
    # Tasks deleted per transaction: small, so that callbacks never wait long behind one.
    tasks_per_batch: Annotated[int, Field(gt=0, le=10_000)] = 100


class AlertsConfig(Section):
    """Operator alerts (receiver/alerts): `endpoint.failing`, `endpoint.recovered` and
    `endpoint.disabled` events sent to one downstream of the relay's."""

    # The downstream (from this file or made through the API) that receives them; "": none.
    downstream: Annotated[str, Field(max_length=64)] = ""
    # At most one alert per downstream this often, whatever its kind, and one message a kind
    # per app, for the whole relay; what happens within it is told, as its state then, when
    # it ends.
    quiet_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 15.0
    # An app's downstreams failing together make one message: the first alert of a kind
    # waits this long (at most half the quiet window) for the app's others, then goes.
    digest_wait_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0


# The `[mcp]` section: the agents' door at /mcp (receiver/agents).
class McpConfig(Section):
    """`auto` mounts /mcp when the `mcp` extra is installed, `on` refuses to start without
    it, `off` never mounts it."""

    enabled: Literal["auto", "on", "off"] = "auto"
    # `wait_for_task` returns after this long at most, ended or not: clients time calls out.
    max_wait_seconds: Annotated[float, Field(gt=0, le=600)] = 120.0
    # A finished image up to this size comes back in the tool's result itself; 0: links only.
    inline_image_bytes: Annotated[int, Field(ge=0, le=8 * 1024 * 1024)] = 512 * 1024
    # Sessions one key may hold open at once: past it that key alone is refused (429), so
    # one key cannot take the memory and the room every other app's agents need.
    max_sessions_per_key: Annotated[int, Field(gt=0, le=10_000)] = 16
    # A session with no request in flight and no open GET stream for this long ends (its
    # client opens a new one); the SDK's own default, 30 minutes, let idle ones pile up.
    session_idle_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 300.0
