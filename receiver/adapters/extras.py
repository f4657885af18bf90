"""The optional parts of the install: the core runs the default relay (SQLite, webhooks,
chat, media on local disk); PostgreSQL, S3 and each broker come with an extra of the
package (pyproject.toml). A feature that is configured without its extra is refused in one
line naming what to install, before anything starts."""

from __future__ import annotations

import importlib.util

from receiver.errors import ConfigError

# The extra each optional feature needs, with the modules it imports.
EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg", "psycopg_pool"),
    "s3": ("obstore",),
    "amqp": ("aio_pika",),
    "nats": ("nats",),
    "mqtt": ("aiomqtt",),
    "redis": ("redis",),
    "cel": ("cel",),
}


def installed(extra: str) -> bool:
    """Whether every module of the extra can be imported (found, not loaded)."""
    return all(importlib.util.find_spec(module) is not None for module in EXTRAS[extra])


def require(extra: str, feature: str) -> None:
    """ConfigError naming the extra when `feature` (as the config says it) lacks it."""
    if not installed(extra):
        raise ConfigError(f"{feature} needs the {extra} extra: pip install 'runway-relay[{extra}]'")


def require_configured(storage_url: str, media_store: str | None, formats: set[str]) -> None:
    """Refuse, in one line, the first configured feature whose extra is missing: the
    storage URL's backend, the `[media]` store when copies are on, each broker format of
    a downstream."""
    if not storage_url.startswith("sqlite:"):
        require("postgres", "storage.url (PostgreSQL)")
    if media_store == "s3":
        require("s3", 'media.store = "s3"')
    for fmt in sorted(formats & EXTRAS.keys()):
        require(fmt, f'a downstream with format = "{fmt}"')
