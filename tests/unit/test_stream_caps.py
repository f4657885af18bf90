"""The live streams' pools and rights: share links' streams apart from the operators', a
cap per link, and which holders' streams a check ends."""

from __future__ import annotations

import math

import pytest

from receiver.kernel.errors import Overloaded
from receiver.shares.links import ShareRefused, ShareSigner
from receiver.stream.caps import BY_ADMIN_TOKEN, Caps, Holder, Pools, lapsed

pytestmark = pytest.mark.unit


def pools() -> Pools:
    shares = Caps(3, 10, ("server.max_share_streams", "server.max_streams_per_client"))
    return Pools(Caps(2, 10), shares, per_link=2)


def test_share_viewers_fill_their_pool_not_the_operators() -> None:
    p = pools()
    one, two = Holder(link="l1"), Holder(link="l2")
    p.take("viewer", one)
    p.take("viewer", one)
    with pytest.raises(Overloaded, match=r"this share link .*max_streams_per_share_link"):
        p.take("viewer", one)
    p.take("other", two)
    with pytest.raises(Overloaded, match="max_share_streams"):
        p.take("other", two)
    p.take("admin", BY_ADMIN_TOKEN)  # the operators' room is whole
    p.take("admin", Holder(key_id="key_1"))
    with pytest.raises(Overloaded, match="max_streams\\)"):
        p.take("admin", BY_ADMIN_TOKEN)
    assert len(p) == 5


def test_a_refused_share_stream_takes_no_place() -> None:
    p = pools()
    p.take("a", Holder(link="l1"))
    p.take("a", Holder(link="l1"))
    with pytest.raises(Overloaded):
        p.take("b", Holder(link="l1"))
    assert len(p.shares) == 2 and p.links.open == {"l1": 2}
    p.give_back("a", Holder(link="l1"))
    p.take("b", Holder(link="l1"))
    assert len(p) == 2


def test_a_holders_right_ends_with_its_key_session_or_time() -> None:
    now = 1000.0
    assert not lapsed(BY_ADMIN_TOKEN, now, {"key_1"}, {"s1"})
    assert lapsed(Holder(key_id="key_1"), now, {"key_1"}, set())
    assert not lapsed(Holder(key_id="key_2"), now, {"key_1"}, set())
    assert lapsed(Holder(session_id="s1", until=math.inf), now, set(), {"s1"})
    assert lapsed(Holder(session_id="s2", until=now), now, set(), set())
    assert not lapsed(Holder(link="l", until=now + 1), now, set(), set())


def test_a_share_token_opens_only_with_its_relay_and_its_admin_token() -> None:
    signer = ShareSigner(["secret-old", "secret-new"], "admin-1")
    token = signer.token_for("tsk_1", "key_1", 2000)
    link = signer.open(token, 1000)
    assert (link.task_id, link.key_id, link.expires_at) == ("tsk_1", "key_1", 2000.0)
    assert "key_1" not in token and "tsk_1" not in token
    assert signer.open(signer.token_for("tsk_1", "key_1", 2000), 1000).link_id != link.link_id
    # Made under the older secret: still opens while that secret is configured.
    older = ShareSigner(["secret-old"], "admin-1").token_for("tsk_1", "key_1", 2000)
    assert signer.open(older, 1000).task_id == "tsk_1"
    with pytest.raises(ShareRefused, match="expired"):
        signer.open(token, 2000)
    with pytest.raises(ShareRefused, match="forged"):
        ShareSigner(["another"], "admin-1").open(token, 1000)
    with pytest.raises(ShareRefused, match="forged"):
        signer.open(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), 1000)
    admins = signer.token_for("tsk_1", None, 2000)
    assert signer.open(admins, 1000).key_id is None
    with pytest.raises(ShareRefused, match="admin token"):
        ShareSigner(["secret-old", "secret-new"], "admin-2").open(admins, 1000)
    assert ShareSigner(["secret-old", "secret-new"], "admin-2").open(token, 1000) == link
