"""Mirroring into an S3-compatible bucket: moto's S3 server on loopback, no mock objects.

The relay (a child process) copies the simulator's render into the bucket through obstore;
the tests read the bucket back with boto3 and fetch the signed /media URLs, both through
the presigned redirect and streamed by the relay itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from receiver.config import parse_settings
from receiver.kernel.errors import ConfigError
from receiver.media.storage.local import open_media_store
from receiver.media.storage.s3 import MAX_PRESIGN_SECONDS
from tests.conftest import MakeRelay, relay_env, webhook
from tests.e2e.test_media import RENDER, cdn_sim, delivered, delivered_media
from tests.harness import WAIT_SECONDS, Relay, Simulator, Sink, image_to_video
from tests.testkit import to_toml

__all__ = ["cdn_sim"]  # the fixture, shared with tests/e2e/test_media.py

KEYS = {"RELAY_S3_KEY_ID": "relay-test-key-id", "RELAY_S3_SECRET": "relay-test-secret-0000"}
PREFIX = "relay/media"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEYS["RELAY_S3_KEY_ID"],
        aws_secret_access_key=KEYS["RELAY_S3_SECRET"],
    )


@pytest.fixture
def bucket(s3_url: str) -> str:
    name = f"relay-{uuid.uuid4().hex[:12]}"
    s3_client(s3_url).create_bucket(Bucket=name)
    return name


def s3_media(s3_url: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "store": "s3",
        "bucket": bucket,
        "prefix": PREFIX,
        "endpoint_url": s3_url,
        "access_key_id_env": "RELAY_S3_KEY_ID",
        "secret_access_key_env": "RELAY_S3_SECRET",
        "allow_private_networks": True,
        **extra,
    }


@pytest.fixture
def sqlite_only(storage_url: str) -> None:
    if not storage_url.startswith("sqlite"):
        pytest.skip("the bucket is under test here, not the database")


def mirrored_video(
    make_relay: MakeRelay, sim: Simulator, sink: Sink, media: dict[str, Any]
) -> tuple[Relay, dict[str, Any], dict[str, Any]]:
    relay = make_relay([webhook(sink)], env=KEYS, upstream={"base_url": sim.url}, media=media)
    relay.wait_task(relay.submit(**image_to_video()).json()["id"], delivered)
    files = delivered_media(sink)
    assert files["status"] == "mirrored", files
    [video] = [f for f in files["files"] if f["role"] == "video"]
    original = RENDER.read_bytes()
    assert (video["bytes"], video["sha256"], video["content_type"]) == (
        len(original),
        hashlib.sha256(original).hexdigest(),
        "video/mp4",
    )
    return relay, files, video


@pytest.mark.usefixtures("sqlite_only")
def test_mirrored_to_the_bucket_and_served_by_a_presigned_redirect(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, s3_url: str, bucket: str
) -> None:
    relay, media, video = mirrored_video(make_relay, cdn_sim, sink, s3_media(s3_url, bucket))
    original = RENDER.read_bytes()
    # In the bucket, under the prefix, byte for byte, with its content type.
    s3 = s3_client(s3_url)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/")["Contents"]
    assert len(listed) == len(media["files"])
    stored = {}
    for item in listed:
        got = s3.get_object(Bucket=bucket, Key=item["Key"])
        body = got["Body"].read()
        stored[hashlib.sha256(body).hexdigest()] = (body, got["ContentType"])
    assert stored[video["sha256"]] == (original, "video/mp4")
    assert set(stored) == {f["sha256"] for f in media["files"]}
    # The signed relay URL redirects to a presigned URL of that object, valid <= 7 days.
    first = httpx.get(video["url"])
    assert first.status_code == 307
    location = first.headers["location"]
    assert location.startswith(f"{s3_url}/{bucket}/{PREFIX}/")
    expires = int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])
    assert 0 < expires <= MAX_PRESIGN_SECONDS
    whole = httpx.get(video["url"], follow_redirects=True)
    assert whole.status_code == 200 and whole.content == original
    part = httpx.get(location, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == original[100:200]
    token = video["url"].rsplit("/", 1)[1]
    assert relay.anon.get(f"/media/{token[:-2]}xx").status_code == 403


@pytest.mark.usefixtures("sqlite_only")
def test_streamed_by_the_relay_with_range_when_not_presigned(
    make_relay: MakeRelay, cdn_sim: Simulator, sink: Sink, s3_url: str, bucket: str
) -> None:
    media = s3_media(s3_url, bucket, presign=False)
    relay, _, video = mirrored_video(make_relay, cdn_sim, sink, media)
    original = RENDER.read_bytes()
    whole = httpx.get(video["url"])
    assert whole.status_code == 200 and whole.content == original
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["etag"]
    assert whole.headers["content-length"] == str(len(original))
    assert whole.headers["accept-ranges"] == "bytes"
    part = httpx.get(video["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == original[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(original)}"
    tail = httpx.get(video["url"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == original[-10:]
    past = httpx.get(video["url"], headers={"Range": f"bytes={len(original)}-"})
    assert past.status_code == 416
    head = httpx.head(video["url"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(original))
    assert relay.anon.get("/media/nothing").status_code == 403


def test_a_failed_upload_leaves_nothing_and_prune_keeps_foreign_objects(
    s3_url: str, bucket: str
) -> None:
    settings = parse_settings({"media": s3_media(s3_url, bucket)}).media
    store = open_media_store(settings, KEYS)
    s3 = s3_client(s3_url)

    class Broken(Exception):
        pass

    async def chunks(fail: bool) -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * (4 * 1024 * 1024)  # 12 MB: more than one multipart part
        if fail:
            raise Broken

    async def run() -> None:
        with pytest.raises(Broken):  # the download's own error, unchanged
            await store.put("tsk_a/video-0.mp4", chunks(fail=True), "video/mp4")
        await store.put("tsk_b/video-0.mp4", chunks(fail=False), "video/mp4")

    asyncio.run(run())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"{PREFIX}/tsk_b/video-0.mp4"]
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/README.txt", Body=b"not a copy")
    assert store.prune(30) == (0, 0, 12 * 1024 * 1024)  # the copy is kept, the README not counted
    assert store.prune(30, now=4e9) == (1, 12 * 1024 * 1024, 0)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"{PREFIX}/README.txt"]


def test_s3_config_mistakes_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r'^config key media.bucket: must be set when media.store = "s3"$'
    ):
        parse_settings({"media": {"store": "s3"}})
    settings = parse_settings({"media": s3_media("http://127.0.0.1:9", "b-1")}).media
    with pytest.raises(ConfigError, match="environment variable RELAY_S3_SECRET is not set"):
        open_media_store(settings, {"RELAY_S3_KEY_ID": "id"})
    config = tmp_path / "relay.toml"
    config.write_text(to_toml({"media": {"enabled": True, "store": "s3"}}))
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        env={**os.environ, **relay_env()},  # the bucket is the one thing missing
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        'receiver: config error: config key media.bucket: must be set when media.store = "s3"'
    ]
