"""Each app's own keys for its tasks' own webhooks (`webhook` on a submit): a `whsec_`
secret (Standard Webhooks HMAC, `v1`) and a `whsk_` ed25519 key (`v1a`, its public key in
the app's JWKS), made at their first need, sealed in the store (bound to the app's id) and
rotated with the overlap downstreams have. The relay-wide `delivery.task_webhook_secret_env`
signs the operator's own tasks only (those of no app).

A process keeps the keys of the apps it signed for lately (a bounded cache, read again after
`FRESH_SECONDS`, so that another process's rotation is heard within that), never every
app's."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import orjson

from receiver.kernel.secrets.message_signatures import jwk
from receiver.kernel.secrets.sealing import Sealer
from receiver.kernel.secrets.signing import new_secret, public_key
from receiver.kernel.store import Store
from receiver.keys.rows.webhook_keys import WebhookKeysRow
from receiver.keys.transactions import webhook_keys as stored

# How long a process signs with the keys it read before reading them again.
FRESH_SECONDS = 10.0
# The apps whose keys a process keeps at most (the least lately used go first).
KEPT_APPS = 1024


@dataclass(frozen=True)
class KeyPair:
    secret: str  # `whsec_`: HMAC, what the app's receiver verifies `v1` with
    key: str  # `whsk_`: ed25519, never shown; its public key is in the app's JWKS

    @property
    def both(self) -> tuple[str, str]:
        return self.secret, self.key

    @property
    def public_key(self) -> str:
        found = public_key(self.key)
        assert found is not None  # a `whsk_` key always has one
        return found


@dataclass(frozen=True)
class AppWebhookKeys:
    """What an app's task webhooks are signed with: its pair, and the pair a rotation
    replaced until `previous_until` (then None)."""

    current: KeyPair
    previous: KeyPair | None
    previous_until: float | None

    def in_use(self, now: float) -> list[KeyPair]:
        if self.previous is not None and self.previous_until and now < self.previous_until:
            return [self.current, self.previous]
        return [self.current]

    def public_keys(self, now: float) -> list[dict[str, str]]:
        """The JWKs of its ed25519 keys in use now."""
        return [jwk(pair.key) for pair in self.in_use(now)]


def _binding(app_id: str) -> str:
    return f"{app_id}#task-webhook"


def _new_pair() -> KeyPair:
    return KeyPair(new_secret("hmac"), new_secret("ed25519"))


class TaskWebhookKeys:
    """The apps' task-webhook keys as this process reads, makes and rotates them."""

    def __init__(self, store: Store, sealer: Sealer, overlap: float) -> None:
        self.store = store
        self.sealer = sealer
        self.overlap = overlap  # `delivery.rotation_overlap_seconds`
        self._kept: OrderedDict[str, tuple[AppWebhookKeys, float]] = OrderedDict()

    def _seal(self, app_id: str, pair: KeyPair) -> str:
        plain = orjson.dumps({"secret": pair.secret, "key": pair.key}).decode()
        return self.sealer.seal(plain, _binding(app_id))

    def _open(self, app_id: str, sealed: str) -> KeyPair:
        """Unsealable when the relay no longer has the key it was sealed under."""
        found = orjson.loads(self.sealer.open(sealed, _binding(app_id)))
        return KeyPair(str(found["secret"]), str(found["key"]))

    def _opened(self, row: WebhookKeysRow) -> AppWebhookKeys:
        previous = None
        if row.sealed_previous is not None and (row.previous_until or 0) > time.time():
            previous = self._open(row.app_id, row.sealed_previous)
        keys = AppWebhookKeys(self._open(row.app_id, row.sealed), previous, row.previous_until)
        self._keep(row.app_id, keys)
        return keys

    def _keep(self, app_id: str, keys: AppWebhookKeys) -> None:
        self._kept[app_id] = keys, time.monotonic()
        self._kept.move_to_end(app_id)
        while len(self._kept) > KEPT_APPS:
            self._kept.popitem(last=False)

    async def known(self, app_id: str) -> AppWebhookKeys | None:
        """The app's keys; None while it has none (a public JWKS fetch makes none)."""
        kept = self._kept.get(app_id)
        if kept is not None and time.monotonic() - kept[1] < FRESH_SECONDS:
            return kept[0]
        row = await stored.of(self.store, app_id)
        return self._opened(row) if row is not None else None

    async def of(self, app_id: str) -> AppWebhookKeys:
        """The app's keys, made when it has none yet."""
        kept = self._kept.get(app_id)
        if kept is not None and time.monotonic() - kept[1] < FRESH_SECONDS:
            self._kept.move_to_end(app_id)
            return kept[0]
        row = await stored.of(self.store, app_id)
        if row is None:
            row = await stored.made(self.store, app_id, self._seal(app_id, _new_pair()))
        return self._opened(row)

    async def rotate(self, app_id: str) -> AppWebhookKeys:
        """A new pair signs from now on; the one it replaces signs beside it for the
        overlap."""
        row = await stored.rotate(self.store, app_id, self._seal(app_id, _new_pair()), self.overlap)
        return self._opened(row)
