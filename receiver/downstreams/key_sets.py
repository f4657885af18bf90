"""The public keys of the downstreams that sign with RFC 9421, one set an owner: each app's
own, and the operator's (the config file's and those made without an app). A set is
serialised once and kept until one of its owner's keys changes (`changed`), or a rotation's
overlap ends, so that a fetch costs the same with a thousand keys as with one; a key's JWK is
derived once (an ed25519 public key is the costly part) and kept while its key is in use."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from receiver.config import Downstream
from receiver.kernel.secrets.message_signatures import jwk, keys_of
from receiver.kernel.secrets.signing import secrets_in_use
from receiver.outbox.rules.delivery import owner_of

# An owner: an app's id, or None for the operator's own downstreams.
Owner = str | None


@dataclass(frozen=True)
class KeySet:
    body: bytes  # the JWKS, serialised
    until: float  # when a rotation's overlap ends and an old key leaves it (inf: none does)
    derived: dict[str, dict[str, str]] = field(repr=False)  # each key's JWK, by its secret


def built(
    downstreams: Iterable[Downstream], now: float, derived: dict[str, dict[str, str]]
) -> KeySet:
    """The set of `downstreams`' keys in use at `now`, once each by `kid`; `derived`: JWKs
    already made, by secret."""
    kept: dict[str, dict[str, str]] = {}
    until = math.inf
    for d in downstreams:
        if d.signing != "rfc9421":
            continue
        in_use = keys_of(secrets_in_use(d, now))
        if d.previous_secret in in_use:
            until = min(until, d.previous_until)
        for secret in in_use:
            kept[secret] = derived.get(secret) or jwk(secret)
    keys = sorted(kept.values(), key=lambda key: key["kid"])
    body = json.dumps({"keys": keys}, separators=(",", ":")).encode()
    return KeySet(body, until, kept)


class KeySets:
    """Each owner's set, built when first asked after a change (the directory reads its
    owner's downstreams for it)."""

    def __init__(self) -> None:
        self._sets: dict[Owner, KeySet] = {}
        self._stale: set[Owner] = set()

    def changed(self, owner: Owner) -> None:
        """One of `owner`'s downstreams' keys changed (made, rotated, removed, `signing`)."""
        self._stale.add(owner)

    def kept(self, owner: Owner, now: float) -> bytes | None:
        """`owner`'s set, serialised, while it holds (None: to be built again)."""
        kept = self._sets.get(owner)
        if kept is None or owner in self._stale or now >= kept.until:
            return None
        return kept.body

    def build(self, owner: Owner, downstreams: Iterable[Downstream], now: float) -> bytes:
        """`owner`'s set made of its `downstreams` (others' are left out), kept."""
        before = self._sets.get(owner)
        own = (d for d in downstreams if owner_of(d.name) == owner)
        kept = self._sets[owner] = built(own, now, before.derived if before else {})
        self._stale.discard(owner)
        return kept.body
