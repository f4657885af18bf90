"""Every operation of the relay's API as its OpenAPI document describes it (FastAPI makes
the document from the routes themselves): path, method, whether a bearer token guards it,
and the scope it needs. The tests that walk every route read them here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from receiver.api.routers import openapi
from receiver.keys.rules import Scope


@dataclass(frozen=True)
class Described:
    path: str
    methods: tuple[str, ...]
    auth: Literal["admin", "open"]  # "open": no bearer (open, or signed by its path)
    scope: Scope | None


def _described() -> tuple[Described, ...]:
    found = []
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            scopes = [s for needed in operation.get("security", []) for s in needed.values()]
            scope = cast(Scope, scopes[0][0]) if scopes else None
            auth: Literal["admin", "open"] = "admin" if scope else "open"
            found.append(Described(path, (method.upper(),), auth, scope))
    return tuple(found)


OPERATIONS = _described()
