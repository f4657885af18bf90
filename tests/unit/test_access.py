"""Who may do what: the scopes, the callers, the keys' hashes, and the route table, which
names the scope of every route behind a bearer token."""

from __future__ import annotations

import inspect

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from receiver.api.routers import routes
from receiver.keys.rules import (
    BOOTSTRAP,
    SCOPES,
    Caller,
    KeyHasher,
    looks_like_key,
    new_key,
    parse_scopes,
)
from tests.api_table import OPERATIONS

# Documented, but bare routes, not FastAPI's: CometAPI's callbacks, and the probes.
_NOT_FASTAPI = {"/callbacks/runway/{token}", "/livez", "/healthz", "/readyz", "/metrics"}


def test_every_route_behind_a_token_names_its_scope() -> None:
    guarded = [op for op in OPERATIONS if op.auth == "admin"]
    assert guarded
    for op in OPERATIONS:
        if op.auth == "admin":
            assert op.scope in SCOPES, (op.path, op.methods)
        else:
            assert op.scope is None, (op.path, op.methods)
    keys = [op for op in guarded if op.path.startswith("/v1/keys")]
    assert keys and all(op.scope == "admin" for op in keys)


def test_the_documented_security_names_the_scope() -> None:
    from receiver.api.routers import openapi

    paths = openapi()["paths"]
    for op in OPERATIONS:
        for method in op.methods:
            spec = paths[op.path][method.lower()]
            if op.auth == "admin":
                assert spec["security"] == [{"admin": [op.scope]}]
                assert "403" in spec["responses"]


def test_a_route_is_guarded_exactly_where_its_description_says() -> None:
    """A route declared through `operation` is guarded by its scope; any other says it is
    open or signed, so one that forgot its guard cannot pass for a guarded one."""
    from receiver.api.routers import openapi
    from receiver.kernel.http.openapi import described

    paths = openapi()["paths"]
    for op in OPERATIONS:
        for method in op.methods:
            text = paths[op.path][method.lower()].get("description", "")
            notes = [described("", op.scope)] if op.auth == "admin" else []
            notes = notes or [described("", auth="none"), described("", auth="signed")]
            assert any(text.endswith(note) for note in notes), (op.path, method)


def test_admin_holds_every_scope_and_sees_every_task() -> None:
    admin = Caller("key_1", "ops", frozenset({"admin"}))
    for scope in SCOPES:
        assert admin.allows(scope) and BOOTSTRAP.allows(scope)
    assert admin.owns("key_2") and admin.owns(None) and admin.owner_filter is None


def test_an_app_key_holds_its_scopes_and_owns_its_own_tasks() -> None:
    app = Caller("key_1", "app", frozenset({"tasks:submit", "tasks:read"}), app_id="key_1")
    assert app.allows("tasks:read") and not app.allows("tasks:cancel")
    assert not app.allows("admin") and not app.allows("downstreams")
    assert app.owns("key_1") and not app.owns("key_2") and not app.owns(None)
    assert app.owner_filter == "key_1"


def test_every_key_of_an_app_owns_the_apps_tasks() -> None:
    """A key rotated loses nothing: what any key of the app made is the app's."""
    old = Caller("key_1", "old", frozenset({"tasks:read"}), app_id="app_1", app="render")
    new = Caller("key_2", "new", frozenset({"tasks:read"}), app_id="app_1", app="render")
    other = Caller("key_3", "b", frozenset({"tasks:read"}), app_id="app_2", app="b")
    assert old.owner == new.owner == "app_1" and new.owns("app_1") and not other.owns("app_1")
    assert new.owner_filter == "app_1" and not new.owns("key_1")


def test_scopes_are_a_fixed_set() -> None:
    assert parse_scopes(["tasks:read", "admin"]) == {"tasks:read", "admin"}
    with pytest.raises(ValueError, match="unknown scope 'tasks:write'"):
        parse_scopes(["tasks:write"])
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes([])


def test_a_key_is_recognisable_and_hashed_under_every_relay_secret() -> None:
    key = new_key()
    assert key.startswith("rr_") and looks_like_key(key) and not looks_like_key("rr_x")
    assert new_key() != key
    old, new = KeyHasher(["s1"]), KeyHasher(["s1", "s2"])
    assert new.digest(key) != old.digest(key) and key not in new.digest(key)
    # After a rotation the key is still found by its hash under the previous secret.
    assert new.digests(key)[1] == old.digest(key)
    assert KeyHasher(["s1"]).digest(key) == old.digest(key)
    assert old.digest(key) != old.digest(new_key())


def test_a_keys_stream_carries_only_its_own_tasks() -> None:
    from receiver.stream.reads import Change
    from receiver.stream.route import _Wanted

    app = Caller("key_1", "app", frozenset({"tasks:read"}), app_id="key_1")
    own = Change("task", 1.0, "t1", "t1", {}, "key_1")
    other = Change("task", 1.0, "t2", "t2", {}, "key_2")
    admins = Change("task", 1.0, "t3", "t3", {}, None)
    attempt = Change("attempt", 1.0, "a1", "t1", {})
    every = (own, other, admins, attempt)
    assert [c.key for c in every if _Wanted(None, app)(c)] == ["t1"]
    assert [c.key for c in every if _Wanted(None, BOOTSTRAP)(c)] == ["t1", "t2", "t3", "a1"]
    assert [c.key for c in every if _Wanted("t2", BOOTSTRAP)(c)] == ["t2"]
    assert [c.key for c in every if _Wanted("t2", app)(c)] == []


def test_every_route_and_dependency_is_a_coroutine() -> None:
    """FastAPI runs a plain function (an endpoint or a dependency) in a worker thread, a hop
    on every request: both of the relay's doors stay on the event loop."""

    def plain(dependant: Dependant) -> set[str]:
        call = dependant.call
        found = set()
        if call is not None:
            function = call if inspect.isroutine(call) else type(call).__call__
            if not inspect.iscoroutinefunction(function):
                found.add(getattr(call, "__qualname__", repr(call)))
        for inner in dependant.dependencies:
            found |= plain(inner)
        return found

    api = [route for route in routes() if isinstance(route, APIRoute)]
    assert {o.path for o in OPERATIONS} <= {route.path_format for route in api} | _NOT_FASTAPI
    assert set().union(*(plain(route.dependant) for route in api)) == set()
