"""The layout's promises, checked on the real import graph of a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

from receiver.kernel.extras import EXTRAS

SERVICE = [
    "receiver.app.build",
    "receiver.cli.main",
    "receiver.cli.runners",
    "receiver.app.server",
    "receiver.app.deliver",
    "receiver.kernel.store.sqlite",
    "receiver.kernel.store.postgres.store",
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


def test_the_default_relay_loads_no_library_of_an_extra() -> None:
    """SQLite, webhooks, chat and local media: the core install, with no extra."""
    loaded = imported_after(*(m for m in SERVICE if "postgres" not in m))
    # Every extra's modules, and what the publishers import of their libraries' own.
    optional = {m for modules in EXTRAS.values() for m in modules} | {"botocore", "paho"}
    assert [m for m in loaded if m.split(".")[0] in optional] == []


RULES = (
    "receiver.lifecycle.rules.task",
    "receiver.lifecycle.rules.routing",
    "receiver.lifecycle.rules.polling",
    "receiver.lifecycle.rules.queue",
    "receiver.lifecycle.rules.retries",
    "receiver.lifecycle.rules.records",
    "receiver.outbox.rules.delivery",
    "receiver.outbox.rules.event_types",
)


def test_the_rules_import_no_io() -> None:
    """A feature's rules load nothing but rules (and the packages they sit in, which load
    nothing themselves)."""
    loaded = imported_after(*RULES)
    folders = {".".join(m.split(".")[:i]) for m in RULES for i in range(1, m.count(".") + 1)}
    assert [m for m in loaded if m.split(".")[0] in IO] == []
    others = [m for m in loaded if m.startswith("receiver.") and m not in folders]
    # A module in a rules folder (`lifecycle/rules/`, `outbox/rules/`) or a rules module.
    assert [m for m in others if ".rules." not in m and not m.endswith(".rules")] == []
