"""Copy one file with the relay's own download code and print its memory, as JSON.

    python bench/mirrorone.py URL DIR

Prints the process's peak RSS before and after the copy: streaming to disk keeps the
difference near the chunk size, whatever the file's size.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import aiohttp

from receiver.media.storage.fetch import fetch
from receiver.media.storage.local import LocalMediaStore


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(url: str, folder: str) -> None:
    before = peak_mb()
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        got = await fetch(session, url, LocalMediaStore(folder), "bench/file", 2**40, True)
    print(
        json.dumps(
            {
                "bytes": got.bytes,
                "seconds": round(time.monotonic() - started, 2),
                "peak_rss_before_mb": round(before, 1),
                "peak_rss_after_mb": round(peak_mb(), 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
