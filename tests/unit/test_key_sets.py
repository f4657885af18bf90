"""Each owner's key set (receiver/downstreams/key_sets.py): built once and kept while its keys
do not change, so a fetch reads no downstream and derives no key; made again when told of a
change to its owner's keys, or when a rotation's overlap ends; an owner's set holds its own
downstreams' rfc9421 keys only."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from receiver.config import Downstream, ManagedDownstreamConfig, managed_downstream
from receiver.downstreams.key_sets import KeySets
from receiver.kernel.secrets import message_signatures as rfc9421
from receiver.kernel.secrets.signing import Signing, new_secret

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0
APP1, APP2 = "app_" + "1" * 24, "app_" + "2" * 24  # apps' ids, as the store makes them


def _downstream(
    name: str, signing: Signing = "rfc9421", previous: str | None = None, until: float = 0.0
) -> Downstream:
    settings = ManagedDownstreamConfig.model_validate(
        {"name": name, "url": "https://hooks.example/in", "signing": signing}
    )
    return managed_downstream(settings, new_secret(signing), previous, until)


class Counted:
    """The directory's downstreams, counting how often they are read."""

    def __init__(self, downstreams: list[Downstream]) -> None:
        self.downstreams, self.reads = downstreams, 0

    def __call__(self) -> Iterable[Downstream]:
        self.reads += 1
        return self.downstreams


def _body(sets: KeySets, owner: str | None, every: Counted, now: float) -> bytes:
    """As the directory asks: the set kept, else built of the downstreams it reads."""
    return sets.kept(owner, now) or sets.build(owner, every(), now)


def _kids(body: bytes) -> list[str]:
    return [key["kid"] for key in json.loads(body)["keys"]]


def test_a_set_is_built_once_and_kept_until_its_owners_keys_change() -> None:
    mine = [_downstream(f"{APP1}.k{n}") for n in range(3)]
    every = Counted([*mine, _downstream(f"{APP2}.k"), _downstream("ops"), _downstream("h", "hmac")])
    sets = KeySets()
    body = _body(sets, APP1, every, NOW)
    assert sorted(_kids(body)) == sorted(rfc9421.key_id(str(d.secret)) for d in mine)
    assert _kids(_body(sets, None, every, NOW)) == [
        rfc9421.key_id(str(every.downstreams[4].secret))
    ]
    assert every.reads == 2
    # Kept: a hundred fetches read no downstream and hand out the very bytes built.
    assert all(_body(sets, APP1, every, NOW + n) is body for n in range(100))
    assert every.reads == 2

    sets.changed(APP2)  # another owner's change leaves this set as it is
    assert _body(sets, APP1, every, NOW) is body and every.reads == 2
    every.downstreams.pop(0)
    sets.changed(APP1)
    assert len(_kids(_body(sets, APP1, every, NOW))) == 2 and every.reads == 3


def test_the_old_key_leaves_when_the_overlap_ends_with_no_change_told() -> None:
    old = new_secret("rfc9421")
    rotating = _downstream(f"{APP1}.k", previous=old, until=NOW + 60)
    every = Counted([rotating])
    sets = KeySets()
    both = _kids(_body(sets, APP1, every, NOW))
    assert set(both) == {rfc9421.key_id(old), rfc9421.key_id(str(rotating.secret))}
    assert _kids(_body(sets, APP1, every, NOW + 59)) == both and every.reads == 1
    assert _kids(_body(sets, APP1, every, NOW + 60)) == [rfc9421.key_id(str(rotating.secret))]
    assert every.reads == 2
    assert _body(sets, APP1, every, NOW + 3600) is _body(sets, APP1, every, NOW + 61)
    assert every.reads == 2
