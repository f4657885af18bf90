"""Uploads cannot hold the loop, nor the store (issue 61): Runway's upload URL
(`POST /runwayml/uploads/{token}`) refuses a form of 100,000 parts with a 400 naming its
bound while `/livez` answers, takes one file (a second post is refused on another replica
too: the store keeps which URLs have taken theirs), and counts each key's bytes in an hour
against `[media] upload_bytes_per_hour` (429 with `Retry-After` past it, only for that key).
The SDK's own upload still goes through. The relay runs as a process."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.devtools.simulator.files import served
from tests.conftest import MakeRelay
from tests.e2e.test_sdk import sdk_client
from tests.fault.support import Figures, backend_of
from tests.harness import ADMIN_TOKEN, Relay

pytestmark = pytest.mark.fault

RUNWAY = {"X-Runway-Version": "2024-11-06"}
PARTS = 100_000


def _media(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"enabled": True, "dir": str(tmp_path / "media"), "allow_private_sources": True, **extra}


def _upload_url(relay: Relay, key: str = ADMIN_TOKEN, filename: str = "face.png") -> str:
    started = relay.anon.post(
        "/runwayml/v1/uploads",
        json={"filename": filename, "type": "ephemeral"},
        headers={**RUNWAY, "Authorization": f"Bearer {key}"},
    )
    assert started.status_code == 200, started.text
    url: str = started.json()["uploadUrl"]
    return url


def _post_file(url: str, data: bytes, name: str = "face.png") -> httpx.Response:
    return httpx.post(url, files={"file": (name, data)}, timeout=60, trust_env=False)


def _picture(size: int) -> bytes:
    """A PNG's first bytes, padded to `size`: what the relay checks of a picture."""
    head, _ = served("x.png")
    return head + b"\0" * max(0, size - len(head))


def test_a_form_of_100000_parts_is_refused_while_livez_answers(
    make_relay: MakeRelay, tmp_path: Path, figures: Figures
) -> None:
    relay = make_relay(media=_media(tmp_path))
    url = _upload_url(relay)
    picture, _ = served("x.png")
    # 100,000 tiny fields, then a real file: 8.8 MB. Before the bound, it was parsed whole on
    # the event loop (14.6 s of /livez held) and taken.
    # Written out here: httpx's encoder took a CI worker some 10 s of CPU for it.
    field = b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n'
    fields = b"".join(field % i for i in range(PARTS))
    file = b'--b\r\nContent-Disposition: form-data; name="file"; filename="face.png"\r\n'
    body = fields + file + b"Content-Type: image/png\r\n\r\n" + picture + b"\r\n--b--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    answers: list[httpx.Response] = []

    def post() -> None:
        answers.append(httpx.post(url, content=body, headers=headers, timeout=60))

    sender = threading.Thread(target=post)
    sender.start()
    livez: list[tuple[int, float]] = []
    while sender.is_alive() or not livez:
        began = time.monotonic()
        status = relay.anon.get("/livez").status_code
        livez.append((status, time.monotonic() - began))
    sender.join()
    [refused] = answers
    assert refused.status_code == 400, refused.text
    assert "Maximum number of fields is 8" in refused.json()["error"]
    assert {status for status, _ in livez} == {200}
    # The URL was not spent by the refused form: the file alone is taken.
    assert _post_file(url, picture).status_code == 204
    # 24 MiB of newlines: no part at all, refused as cheaply.
    newlines = httpx.post(
        _upload_url(relay),
        content=b"\n" * (24 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=60,
    )
    assert newlines.status_code == 400 and "field named file" in newlines.json()["error"]
    figures.record(
        "upload_form_of_100000_parts",
        body_bytes=len(body),
        livez_answers=len(livez),
        livez_max_seconds=round(max(s for _, s in livez), 4),
    )


@pytest.mark.every_backend
def test_an_upload_url_takes_one_file_on_any_replica(
    make_relay: MakeRelay, tmp_path: Path, storage_url: str
) -> None:
    here = make_relay(media=_media(tmp_path))
    picture, _ = served("x.png")
    # The SDK's own upload, then a create naming it: the happy path stands.
    with sdk_client(here.url, ADMIN_TOKEN) as client:
        uploaded = client.uploads.create_ephemeral(file=("face.png", picture))
        created = client.image_upscale.create(
            model="magnific_precision_upscaler_v2", image_uri=uploaded.uri
        )
        assert created.id
    url = _upload_url(here)
    assert _post_file(url, picture).status_code == 204
    again = _post_file(url, picture)
    assert again.status_code == 409
    assert "already taken its file" in again.json()["error"]
    # Another replica on the same store knows it too (SQLite: one after the other).
    if backend_of(storage_url) == "sqlite":
        here.stop()
    there = make_relay(media=_media(tmp_path))
    elsewhere = _post_file(url.replace(here.url, there.url), picture)
    assert elsewhere.status_code == 409, elsewhere.text
    assert "already taken its file" in elsewhere.json()["error"]
    # A fresh URL of the other replica still takes its file.
    assert _post_file(_upload_url(there), picture).status_code == 204


@pytest.mark.every_backend
def test_a_keys_upload_bytes_in_an_hour_are_bounded(
    make_relay: MakeRelay, tmp_path: Path, storage_url: str
) -> None:
    quota = 300_000
    relay = make_relay(media=_media(tmp_path, upload_bytes_per_hour=quota))
    one, two = (
        relay.api.post(
            "/v1/keys", json={"name": name, "scopes": ["tasks:submit", "tasks:read"]}
        ).json()["key"]
        for name in ("one", "two")
    )
    file = _picture(120_000)
    for _ in range(2):
        assert _post_file(_upload_url(relay, one), file).status_code == 204
    over = _post_file(_upload_url(relay, one), file)
    assert over.status_code == 429, over.text
    assert "upload quota is reached (240000 of 300000 bytes" in over.json()["error"]
    assert 0 < int(over.headers["Retry-After"]) <= 3600
    # Another key is not held by the first one's uploads; nor is the SDK.
    assert _post_file(_upload_url(relay, two), file).status_code == 204
    with sdk_client(relay.url, two) as client:
        assert client.uploads.create_ephemeral(file=("face.png", file)).uri
    # A file over the whole quota can never fit: 413, whatever the hour holds.
    whole = _post_file(_upload_url(relay, two), _picture(quota + 1))
    assert whole.status_code == 413, whole.text
    assert "over this key's whole upload quota" in whole.json()["error"]
