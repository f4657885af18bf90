"""Group commit, measured: SqliteStore.record_callback() from N concurrent callers, no HTTP.

    python bench/storebench.py --db COPY --pairs FILE --concurrency 64 --seconds 3

Every record is a callback the relay would answer 200 for, stored as the route stores it
(a claim under the default `callbacks` settings, bringing its task's poll forward) and
committed with synchronous=FULL; `commits` (one fsync each) over records says how many
callbacks one fsync carried.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from common import SIGNING_SECRET, callback_body

from receiver.config import CallbackConfig
from receiver.kernel.secrets.tokens import CallbackSigner
from receiver.kernel.store.sqlite import SqliteStore
from receiver.lifecycle.comet import parse_callback
from receiver.lifecycle.transactions import polls
from receiver.lifecycle.transactions.observe import Report
from tests.testkit import listed


async def run(db: Path, pairs: Path, concurrency: int, seconds: float) -> dict[str, float]:
    signer = CallbackSigner([SIGNING_SECRET], 86400, public_url="")
    rows = [line.split() for line in pairs.read_text().splitlines() if line.strip()]
    tasks = [(signer.verify(path.rsplit("/", 1)[1]), up) for path, up in rows]
    store = SqliteStore(str(db))
    # The defaults, as a relay with no [callbacks] section weighs them.
    policy = CallbackConfig().claim_policy()
    await store.migrate()
    counter = iter(range(10**9))
    done = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def caller() -> None:
        nonlocal done
        while loop.time() < deadline:
            k = next(counter)
            task_id, up = tasks[k % len(tasks)]
            body = callback_body(up, "running" if k < len(tasks) else "succeeded", f"s{k}")
            _, obs = parse_callback(body.encode())
            await polls.arrive(
                store, Report("callback", f"callback:{k}", obs, body), task_id, listed({}), policy
            )
            done += 1

    commits0 = store.commits
    cpu0 = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    commits = store.commits - commits0
    await store.close()
    return {
        "concurrency": concurrency,
        "records_per_s": round(done / elapsed, 1),
        "commits_per_s": round(commits / elapsed, 1),
        "records_per_commit": round(done / max(commits, 1), 2),
        "cpu_us_per_record": round(cpu / max(done, 1) * 1e6),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--seconds", type=float, default=3)
    args = p.parse_args()
    result = asyncio.run(run(args.db, args.pairs, args.concurrency, args.seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
