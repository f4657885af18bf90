"""`format = "kafka"`: a Kafka topic, at `kafka://HOST:PORT[,HOST:PORT]/TOPIC` (`kafkas://`
over TLS; a user and password in the URL sign in with SASL), delivered once every in-sync
replica has the message (`acks=all`). The key is the task id, so one task's events stay in
one partition, in order. For a downstream from the API, each server it dials is judged
first: the URL's, and each broker the cluster's metadata names (`Dials`)."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import unquote, urlsplit

from receiver.destinations.brokers import BrokerDestination
from receiver.destinations.connection import Connected, Reconnecting, describe
from receiver.destinations.metadata import METADATA
from receiver.destinations.provider import Binding
from receiver.destinations.publishing import BrokerMessage, BrokerTarget, Confirms
from receiver.kernel.errors import DownstreamError
from receiver.kernel.net.guard import PrivateAddress

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

T = TypeVar("T")
DEFAULT_PORT = 9092
WANTED = "kafka://HOST:PORT[,HOST:PORT]/TOPIC (kafkas:// over TLS)"
# Kafka's own rule for a topic's name.
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_SERVER = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d{1,5}))?$")
# AsyncAPI's Kafka bindings, the version these are written to.
BINDING_VERSION = "0.5.0"


@dataclass(frozen=True)
class KafkaUrl:
    tls: bool
    servers: tuple[str, ...]  # HOST:PORT, the bootstrap servers
    topic: str
    user: str
    password: str


def parse(url: str) -> KafkaUrl:
    """The URL's parts; ValueError saying which part is wrong."""
    parts = urlsplit(url)
    _, at, hosts = parts.netloc.rpartition("@")
    if parts.scheme not in ("kafka", "kafkas"):
        _refuse(f"its scheme {parts.scheme!r} is neither kafka nor kafkas")
    servers = []
    for server in hosts.split(","):
        if (found := _SERVER.match(server)) is None:
            _refuse(f"its server {server!r} is not HOST or HOST:PORT")
        port = int(found["port"] or DEFAULT_PORT)
        if not 0 < port < 65536:
            _refuse(f"its server {server!r} has port {port}, not one of 1 to 65535")
        servers.append(f"{found['host']}:{port}")
    topic = parts.path[1:]
    if parts.query or parts.fragment:
        _refuse("it has a query or a fragment; settings go in the downstream's own keys")
    if not topic:
        _refuse("it names no topic (its path)")
    if not _TOPIC.match(topic) or topic in (".", ".."):
        _refuse(f"its topic {topic!r} is not a topic's name: 1 to 249 letters, digits, . _ -")
    user = unquote(parts.username or "") if at else ""
    password = unquote(parts.password or "") if at else ""
    return KafkaUrl(parts.scheme == "kafkas", tuple(servers), topic, user, password)


def _refuse(wrong: str) -> NoReturn:
    raise ValueError(f"a kafka downstream's url is {WANTED}: {wrong}")


def server_target(found: KafkaUrl, server: str) -> str:
    """What `delivery.allowed_targets` matches for one server: `kafka://HOST:PORT/TOPIC`."""
    return f"{'kafkas' if found.tls else 'kafka'}://{server}/{found.topic}"


@dataclass(frozen=True)
class KafkaTarget(BrokerTarget):
    sasl_mechanism: str = ""
    idempotent: bool = True


class KafkaDestination(BrokerDestination):
    metadata = METADATA["kafka"]

    def check_url(self, url: str) -> str:
        parse(url)
        return url

    def check_settings(self, settings: Any) -> None:
        # A sealed URL's user and password are not at hand: its stand-in has none.
        url, stand_in = settings.url, self.metadata.stand_in_url
        if settings.sasl_mechanism and url and url != stand_in and not parse(url).user:
            raise ValueError("sasl_mechanism: the url has no user and password to sign in with")

    def target(self, settings: Any) -> KafkaTarget:
        return KafkaTarget(
            self.metadata.format,
            settings.url,
            parse(settings.url).topic,
            timeout=settings.timeout,
            sasl_mechanism=settings.sasl_mechanism or "",
            idempotent=settings.idempotent is not False,
        )

    def target_addresses(self, settings: Any) -> list[str]:
        """`kafka://HOST:PORT/TOPIC` for each bootstrap server: a pattern must match every
        server the relay may connect to."""
        found = parse(settings.url)
        return [server_target(found, server) for server in found.servers]

    def connects_to(self, settings: Any) -> list[tuple[str, str]]:
        return [("url", f"kafka://{server}") for server in parse(settings.url).servers]

    def open_publisher(self, target: BrokerTarget, name: str, max_in_flight: int) -> Confirms:
        assert isinstance(target, KafkaTarget)
        return Kafka(target)

    def binding(self, settings: Any) -> Binding | None:
        found = parse(settings.url)
        channel = {"kafka": {"topic": found.topic, "bindingVersion": BINDING_VERSION}}
        protocol = "kafka-secure" if found.tls else "kafka"
        return Binding(protocol, channel, address=found.topic, host=found.servers[0])


def refusal(exc: Exception, idempotent: bool) -> str:
    """Why a producer did not start, in words. Past its connections, the one request a
    starting producer makes is the idempotent producer's for its id: refused (a broker
    without it, a user without the right), the answer says how to turn it off."""
    from aiokafka.errors import BrokerResponseError, IncompatibleBrokerVersion

    why = describe(exc)
    if idempotent and isinstance(exc, BrokerResponseError | IncompatibleBrokerVersion):
        return (
            f"the broker refused the idempotent producer ({why}): turn it off for this"
            " downstream, idempotent = false (the command line's --no-idempotent)"
        )
    return why


def _tell(told: asyncio.Future[T], done: asyncio.Future[T]) -> None:
    """`done`'s end passed on to `told`, unless a refusal came first."""
    if told.done():
        return
    if done.cancelled():
        told.cancel()
    elif (exc := done.exception()) is not None:
        told.set_exception(exc)
    else:
        told.set_result(done.result())


class Dials:
    """The servers one producer dials, each judged just before: the bootstrap servers, then
    every broker the cluster names, through the client's one door to a broker (`_get_conn`).
    A refused broker is no connection to aiokafka (it goes on with the others, as after a
    failed connect), and ends the producer's start or send that waits on it."""

    def __init__(self, target: KafkaTarget) -> None:
        self.target = target
        self.reason = ""  # "": none refused
        self._waiting: set[asyncio.Future[Any]] = set()  # what unless_refused waits on
        # Nothing to judge (the config file's downstream): a send is awaited as it is.
        self.judging = target.judge is not None or bool(target.allowed)

    async def judged(self, host: str, port: int) -> None:
        """PrivateAddress unless the relay may dial `host:port` for this downstream."""
        if self.target.judge is not None:
            await self.target.judge(host, port)
        if allowed := self.target.allowed:
            found = parse(self.target.url)
            address = server_target(found, f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            if not any(fnmatchcase(address, pattern) for pattern in allowed):
                raise PrivateAddress(
                    f"{host}:{port}, a broker the cluster named, is no target the patterns"
                    " of delivery.allowed_targets allow this app"
                )

    def watch(self, client: Any) -> None:
        """Judge each broker `client` is about to connect to."""
        if not self.judging:
            return
        from aiokafka.client import ConnectionGroup

        get_conn = client._get_conn

        async def judged_get_conn(node_id: Any, **kwargs: Any) -> Any:
            held = client._conns.get((node_id, kwargs.get("group", ConnectionGroup.DEFAULT)))
            broker = client.cluster.broker_metadata(node_id)
            if (held is None or not held.connected()) and broker is not None:
                try:
                    await self.judged(broker.host, broker.port)
                except PrivateAddress as exc:
                    self.reason = str(exc)
                    for waiting in self._waiting:
                        if not waiting.done():
                            waiting.set_exception(PrivateAddress(self.reason))
                    return None
            return await get_conn(node_id, **kwargs)

        client._get_conn = judged_get_conn

    async def unless_refused(self, work: Awaitable[T]) -> T:
        """`work`'s result, unless a broker it waits on is refused first: PrivateAddress."""
        if not self.judging:
            return await work
        if self.reason:
            raise PrivateAddress(self.reason)
        # One future told by whichever comes first: `work`'s end, or a refusal (no task
        # more than `work`'s own: this is on every send's path).
        doing = asyncio.ensure_future(work)
        told: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        doing.add_done_callback(lambda _: _tell(told, doing))
        self._waiting.add(told)
        try:
            return await told
        finally:
            self._waiting.discard(told)
            if not doing.done():
                doing.cancel()


class Kafka(Connected["AIOKafkaProducer"]):
    def __init__(self, target: KafkaTarget) -> None:
        self.target = target
        self._conn = Reconnecting(self._open, self._shut, target.timeout)
        self._dials = Dials(target)

    def _options(self) -> dict[str, Any]:
        """The producer's settings: one try per send (the relay retries a delivery)."""
        found = parse(self.target.url)
        timeout_ms = int(self.target.timeout * 1000)
        options: dict[str, Any] = {
            "bootstrap_servers": list(found.servers),
            "client_id": "runway-relay",
            "acks": "all",
            "enable_idempotence": self.target.idempotent,
            "request_timeout_ms": timeout_ms,
            "metadata_max_age_ms": 60_000,
            "connections_max_idle_ms": 540_000,
        }
        if found.tls:
            options["ssl_context"] = ssl.create_default_context()
        if found.user:
            options["sasl_mechanism"] = self.target.sasl_mechanism or "PLAIN"
            options["sasl_plain_username"] = found.user
            options["sasl_plain_password"] = found.password
        options["security_protocol"] = ("SASL_" if found.user else "") + (
            "SSL" if found.tls else "PLAINTEXT"
        )
        return options

    async def _open(self) -> AIOKafkaProducer:
        from aiokafka import AIOKafkaProducer

        self._dials = dials = Dials(self.target)
        for server in parse(self.target.url).servers:
            host, _, port = server.rpartition(":")
            try:
                await dials.judged(host.strip("[]"), int(port))
            except PrivateAddress as exc:
                raise DownstreamError(f"refused: {exc}") from None
        producer = AIOKafkaProducer(**self._options())
        dials.watch(producer.client)
        try:
            # The idempotent producer asks for its id here, of a broker the cluster names.
            await dials.unless_refused(producer.start())
        except BaseException as exc:
            await producer.stop()
            if isinstance(exc, Exception):
                raise DownstreamError(refusal(exc, self.target.idempotent)) from None
            raise
        return producer

    @staticmethod
    async def _shut(producer: AIOKafkaProducer) -> None:
        await producer.stop()

    async def publish(self, message: BrokerMessage) -> None:
        from aiokafka.errors import BrokerResponseError

        producer = await self._conn.get()
        dials = self._dials
        task_id = str(message.event.get("task_id") or "")
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        try:
            async with asyncio.timeout(self.target.timeout):
                key = task_id.encode() or None
                await dials.unless_refused(
                    producer.send_and_wait(message.name, message.body, key=key, headers=headers)
                )
        except PrivateAddress as exc:
            await self._conn.drop(producer)
            raise DownstreamError(f"refused: {exc}") from None
        except BrokerResponseError as exc:
            # The broker answered and refused (a topic it will not make, a message too
            # large, no right to write): the producer itself is fine.
            raise DownstreamError(f"not delivered: {describe(exc)}") from None
        except Exception as exc:
            raise await self.broken(producer, exc) from None


PROVIDER = KafkaDestination()
