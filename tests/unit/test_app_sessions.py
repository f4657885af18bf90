"""An app's lanes share its HTTP sessions (pools of connections), closed with the last of
them; no two apps share one, nor does the operator's downstream (issue 91's burst)."""

from __future__ import annotations

import asyncio

import pytest

from receiver.config import Downstream
from receiver.config.sections import DeliveryConfig
from receiver.deliveries.fanout.connections import AppSessions
from receiver.destinations.http import Route
from receiver.kernel.errors import DownstreamError
from receiver.outbox.rules.delivery import owned_name

APP, OTHER = "app_" + "a" * 24, "app_" + "b" * 24


def _own() -> None:
    raise AssertionError("an app's lane opens its app's session, not one of its own")


def _route(sessions: AppSessions, name: str) -> Route:
    d = Downstream(name=name, url="https://example.com/hook", events=["succeeded"])
    route = Route(_own, None, judged=True)  # type: ignore[arg-type]
    sessions.share(route, DeliveryConfig(), d, judged=True)
    return route


async def _shared() -> None:
    sessions = AppSessions()
    first, second = (_route(sessions, owned_name(APP, name)) for name in ("a", "b"))
    others = _route(sessions, owned_name(OTHER, "a"))
    session = first.session
    assert second.session is session and others.session is not session
    assert session.connector is not None and session.connector.limit == 0  # each lane its cap
    await first.close()
    assert not session.closed  # the other lane still sends on it
    with pytest.raises(DownstreamError):
        _ = first.session  # a closed lane's route sends nothing more
    await second.close()
    assert session.closed  # with the last of its app's lanes
    await others.close()
    assert _route(sessions, "hooks").opens is _own  # the operator's keeps its own


def test_an_apps_lanes_share_its_sessions_and_no_other_app_does() -> None:
    asyncio.run(_shared())
