"""Helpers the tests and the benchmarks share: config files and free loopback ports."""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port that is free now and that no outgoing connection can take before a
    server binds it. A port from the kernel (binding port 0) lies in its ephemeral range,
    which the next outgoing connection may also be given; so this one lies below it."""
    low = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def to_toml(settings: dict[str, Any]) -> str:
    """Just enough TOML for our config: tables (nested too), arrays of tables (their maps
    inline), scalars and lists."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):  # an inline table: a downstream's headers
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)

    lines: list[str] = []

    def table(name: str, body: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in body.items() if not isinstance(v, dict))
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for section, body in settings.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines.extend(f"{k} = {value(v)}" for k, v in item.items())
        else:
            table(section, body)
    return "\n".join(lines) + "\n"
