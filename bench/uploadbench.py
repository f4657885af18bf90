"""`/livez` while Runway's upload URL is sent a form of 100,000 tiny parts (8.8 MB), then
24 MiB of newlines: the longest `/livez` took meanwhile and what the form was answered.

    PYTHONPATH=. python bench/uploadbench.py [--source DIR]

`--source`: another checkout whose relay runs (its folder on PYTHONPATH), for a paired
figure against an older commit. Prints one JSON line per body.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_TOKEN, Child, python_child, relay_env, relay_settings

from tests.testkit import free_port, to_toml

PARTS = 100_000
RUNWAY = {"X-Runway-Version": "2024-11-06", "Authorization": f"Bearer {ADMIN_TOKEN}"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _bodies(url: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    fields = {f"f{i}": "v" for i in range(PARTS)}
    form = httpx.Request("POST", url, data=fields, files={"file": ("a.png", PNG)})
    newlines = {"Content-Type": "multipart/form-data; boundary=b"}
    return {
        "form_of_100000_parts": (form.read(), dict(form.headers)),
        "newlines_24_mib": (b"\n" * (24 * 1024 * 1024), newlines),
    }


def _measure(base: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    start = httpx.post(f"{base}/runwayml/v1/uploads", json={"filename": "a.png"}, headers=RUNWAY)
    url = start.json()["uploadUrl"]
    answer: list[httpx.Response] = []
    began = time.monotonic()
    sender = threading.Thread(
        target=lambda: answer.append(httpx.post(url, content=body, headers=headers, timeout=300))
    )
    sender.start()
    slowest, probes = 0.0, 0
    while sender.is_alive():
        asked = time.monotonic()
        # A connection each: a kept-alive one may be closed by the server's idle timer the
        # moment a held loop comes back.
        httpx.get(f"{base}/livez", timeout=300).raise_for_status()
        slowest, probes = max(slowest, time.monotonic() - asked), probes + 1
        time.sleep(0.02)
    sender.join()
    return {
        "body_bytes": len(body),
        "status": answer[0].status_code,
        "answer": answer[0].text[:160],
        "answered_seconds": round(time.monotonic() - began, 3),
        "livez_probes": probes,
        "livez_max_seconds": round(slowest, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", help="another checkout's folder, run instead of this one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work, port = Path(tmp), free_port()
        settings = relay_settings(work / "relay.db", port)
        settings["media"] = {"enabled": True, "dir": str(work / "media")}
        (work / "relay.toml").write_text(to_toml(settings))
        env = relay_env(port)
        if args.source:
            env["PYTHONPATH"] = str(Path(args.source).resolve())
        relay: Child = python_child(
            "relay", ["-m", "receiver", "serve", "--config", str(work / "relay.toml")], work, env
        )
        relay.wait_http(f"http://127.0.0.1:{port}/readyz")
        try:
            base = f"http://127.0.0.1:{port}"
            for name, (body, headers) in _bodies(f"{base}/x").items():
                print(json.dumps({"case": name, **_measure(base, body, headers)}), flush=True)
        finally:
            relay.stop()


if __name__ == "__main__":
    main()
