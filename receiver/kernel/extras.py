"""The optional parts of the install: the core runs the default relay (SQLite, webhooks,
chat, media on local disk); PostgreSQL, S3, each broker and the AWS destinations come with
an extra of the package (pyproject.toml). A feature that is configured without its extra is
refused in one line naming what to install, before anything starts."""

from __future__ import annotations

import importlib.util

from receiver.kernel.errors import ConfigError

# The extra each optional feature needs, with the modules it imports (a destination's
# provider names its extra: receiver/destinations/).
EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg", "psycopg_pool"),
    "mcp": ("mcp",),
    "s3": ("obstore",),
    "amqp": ("aio_pika",),
    "nats": ("nats",),
    "mqtt": ("aiomqtt",),
    "redis": ("redis",),
    "kafka": ("aiokafka",),
    "aws": ("aiobotocore",),
    "pubsub": ("google.auth",),
    "cel": ("cel",),
}


def install_command(extra: str) -> str:
    """What installs an extra: the package is on no index, so it is installed from its clone
    (the directory with pyproject.toml), at the pinned versions."""
    return f"pip install -c constraints.txt -e '.[{extra}]' (in the relay's clone)"


def installed(extra: str) -> bool:
    """Whether every module of the extra can be imported (found, not loaded)."""
    return all(found(module) for module in EXTRAS[extra])


def found(module: str) -> bool:
    """Whether `module` can be imported (found, not loaded)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name's package is missing too (google.auth)
        return False


def require(extra: str, feature: str) -> None:
    """ConfigError naming the extra when `feature` (as the config says it) lacks it."""
    if not installed(extra):
        raise ConfigError(f"{feature} needs the {extra} extra: {install_command(extra)}")


def require_configured(storage_url: str, media_store: str | None) -> None:
    """Refuse, in one line, the first configured feature whose extra is missing: the
    storage URL's backend, the `[media]` store when copies are on (a destination's, its
    provider names: receiver/destinations/registry.py)."""
    if not storage_url.startswith("sqlite:"):
        require("postgres", "storage.url (PostgreSQL)")
    if media_store == "s3":
        require("s3", 'media.store = "s3"')
