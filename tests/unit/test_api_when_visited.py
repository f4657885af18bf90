"""The API's routes are built at the first request that may be theirs (receiver/app/asgi.py):
the probes and the console answer before it without building them; requests arriving
together while they are built all wait for the one build, and every refusal keeps its shape
(404, 405 and its Allow header, FastAPI's 400, Runway's at /runwayml)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.routing import BaseRoute, Route

from receiver.api.routers import routes as api_routes
from receiver.app.build import build_service, create_app
from receiver.config import parse_settings, resolve

ADMIN = "admin-token-for-api-tests-0123"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def test_the_api_is_built_once_at_its_first_request(tmp_path: Path) -> None:
    settings = parse_settings({"storage": {"url": f"sqlite:///{tmp_path / 'relay.db'}"}})
    env = {"COMETAPI_KEY": "k" * 26, "RECEIVER_ADMIN_TOKEN": ADMIN, "RECEIVER_SECRET": "s" * 26}
    service = build_service(resolve(settings, env))
    app = create_app(service)
    standing = len(app.routes)

    def built() -> bool:
        return any(isinstance(r, Route) and r.path == "/v1/tasks" for r in app.routes)

    async def go() -> None:
        await service.store.migrate()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            try:
                assert (await c.get("/healthz")).json() == {"ok": True}
                refused = await c.post("/livez")
                assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
                assert (await c.get("/console/login")).status_code == 200
                assert (await c.get("/metrics")).status_code == 200
                assert not built()
                first = await asyncio.gather(
                    c.get("/v1/tasks", headers=AUTH),
                    c.get("/v1/tasks?limit=abc", headers=AUTH),
                    c.put("/v1/tasks", headers=AUTH),
                    c.get("/no-such-path"),
                    c.put("/runwayml/v1/tasks/x", headers=AUTH),
                )
            finally:
                await service.store.close()
        listed, invalid, wrong_method, missing, runway = first
        assert listed.status_code == 200 and listed.json()["tasks"] == []
        assert invalid.status_code == 400 and invalid.json()["error"] == "bad_request"
        assert invalid.json()["detail"].startswith("limit: ")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "GET, HEAD, POST"
        assert wrong_method.json() == {"error": "http_error", "detail": "Method Not Allowed"}
        assert missing.status_code == 404 and missing.json()["error"] == "http_error"
        assert runway.status_code == 405 and runway.headers["allow"] == "DELETE, GET, HEAD"
        assert set(runway.json()) == {"error"}

    asyncio.run(go())
    # The stand-in gave way to the routes, once.
    assert built()
    assert len(app.routes) == standing - 1 + len(api_routes())


def test_readiness_answers_once_the_api_is_built(tmp_path: Path) -> None:
    # Liveness answers at once; a load balancer's readiness probe waits for every route.
    settings = parse_settings({"storage": {"url": f"sqlite:///{tmp_path / 'relay.db'}"}})
    env = {"COMETAPI_KEY": "k" * 26, "RECEIVER_ADMIN_TOKEN": ADMIN, "RECEIVER_SECRET": "s" * 26}
    service = build_service(resolve(settings, env))
    app = create_app(service)

    async def go() -> tuple[bool, bool]:
        await service.store.migrate()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            try:
                assert (await c.get("/healthz")).status_code == 200
                before = _api_in(app.routes)
                assert (await c.get("/readyz")).json() == {"ok": True}
                return before, _api_in(app.routes)
            finally:
                await service.store.close()

    assert asyncio.run(go()) == (False, True)


def _api_in(routes: list[BaseRoute]) -> bool:
    return any(isinstance(r, Route) and r.path == "/v1/tasks" for r in routes)
