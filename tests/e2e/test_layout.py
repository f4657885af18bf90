"""The layout's promises, checked on the real import graph of a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

SERVICE = [
    "receiver.web.app",
    "receiver.cli.main",
    "receiver.web.server",
    "receiver.pipeline.deliver_worker",
    "receiver.persist.sqlite",
    "receiver.persist.postgres",
]
IO = ("httpx", "aiohttp", "sqlite3", "psycopg", "starlette", "uvicorn", "socket")


def imported_after(*modules: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def test_the_service_never_imports_the_development_tools() -> None:
    loaded = imported_after(*SERVICE)
    assert [m for m in loaded if m.startswith("receiver.devtools")] == []


def test_the_domain_rules_import_no_io() -> None:
    loaded = imported_after(
        "receiver.domain.states",
        "receiver.domain.corroborate",
        "receiver.domain.document",
        "receiver.domain.retry",
    )
    assert [m for m in loaded if m.split(".")[0] in IO] == []
    assert [m for m in loaded if m.startswith("receiver.") and ".domain" not in m] == []
