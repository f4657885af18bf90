"""Poll lag: from the moment CometAPI ends a polled task to its first delivery at a downstream,
and the polls it took, for the relay with its shipped polling defaults and for a client
polling like Runway's SDK (a GET every 6 s +- 1.5 s) over the same tasks.

Two parts in one stage. A real-time sample: the simulator (bench/servers.py `timed`) runs
`image_to_video` tasks of 20 s to a few minutes whose timing is in their prompts (PENDING
first, uneven progress, a fifth with none, a tenth failing part-way), submitted through the
relay, which polls them and delivers to a timed sink; the reference client submits a twin
of each task (the same timing) straight to the simulator and polls it. Beside them,
`video2video` tasks with half their callbacks dropped, once three of their kind have ended:
how soon a lost callback's task still arrives, and the polls it costs. And the rule alone
over a virtual clock (bench/pollmodel.py) for tasks of 20 s to 10 min, which no bounded run
can wait for.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import pollmodel
from common import ADMIN_TOKEN, BENCH
from harness import Bench, Row, verdict, wait_until

from tests.testkit import free_port

MODELS = ("gen4_turbo", "gen3a_turbo")
SDK_HEADERS = {"Authorization": "Bearer reference", "X-Runway-Version": "2024-11-06"}


def _plans(quick: bool, seed: int = 5) -> list[dict[str, Any]]:
    """Each image task: when it is submitted (s after the start), its request and run."""
    rng = random.Random(seed)
    bases = (15.0, 35.0) if quick else (15.0, 35.0, 70.0, 140.0)
    count, spread = (16, 20.0) if quick else (40, 60.0)
    out = []
    for i in range(count):
        kind = i % len(bases)
        words = [
            f"queue={rng.uniform(1, 6):.1f}",
            f"run={bases[kind] * rng.uniform(0.85, 1.15):.1f}",
        ]
        words.append(f"curve={rng.uniform(0.7, 1.4):.2f}")
        if rng.random() < 0.2:
            words.append("noprogress")
        if rng.random() < 0.1:
            words.append(f"failat={rng.uniform(0.2, 0.9):.2f}")
        request = {
            "kind": "image_to_video",
            "promptImage": "https://example.invalid/cat.jpg",
            "promptText": " ".join(words),
            "model": MODELS[kind % 2],
            "duration": 5 + 5 * (kind // 2),
        }
        out.append({"at": spread * i / count, "request": request})
    return out


async def _submit(api: httpx.AsyncClient, request: dict[str, Any]) -> str:
    answer = await api.post("/v1/tasks", json=request)
    answer.raise_for_status()
    task_id: str = answer.json()["id"]
    return task_id


async def _ended(api: httpx.AsyncClient, task_id: str) -> bool:
    answer = await api.get(f"/v1/tasks/{task_id}")
    return answer.json()["terminal_at"] is not None


async def _reference(
    sim: httpx.AsyncClient, request: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    """A twin of the task sent straight to CometAPI, polled as Runway's SDK polls."""
    fields = {k: v for k, v in request.items() if k != "kind"}
    answer = await sim.post("/runwayml/v1/image_to_video", json=fields)
    answer.raise_for_status()
    upstream = answer.json()["id"]
    polls = 0
    while True:
        await asyncio.sleep(rng.uniform(4.5, 7.5))
        polls += 1
        got = await sim.get(f"/runwayml/v1/tasks/{upstream}")
        if got.status_code == 200 and got.json()["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return {"upstream": upstream, "seen_at": time.time(), "polls": polls}


async def _sample(relay_url: str, sim_url: str, quick: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    rng = random.Random(9)
    async with (
        httpx.AsyncClient(base_url=relay_url, headers=headers, timeout=30) as api,
        httpx.AsyncClient(base_url=sim_url, headers=SDK_HEADERS, timeout=30) as sim,
    ):
        start = time.monotonic()
        v2v = {"kind": "video2video", "video": "https://example.invalid/in.mp4"}
        warm = [await _submit(api, {**v2v, "prompt": "queue=2 run=20"}) for _ in range(3)]
        refs: list[asyncio.Task[dict[str, Any]]] = []
        relay_ids: list[str] = []
        lost: list[str] = []
        for plan in _plans(quick):
            await asyncio.sleep(max(0.0, start + plan["at"] - time.monotonic()))
            relay_ids.append(await _submit(api, plan["request"]))
            refs.append(asyncio.create_task(_reference(sim, plan["request"], rng)))
        # Once the warm-up tasks have ended, their kind has a history.
        while not all([await _ended(api, task_id) for task_id in warm]):
            await asyncio.sleep(1)
        await sim.post("/_sim/faults", json={"drop_rate": 0.5})
        for _ in range(4 if quick else 10):
            prompt = f"queue=2 run={rng.uniform(17, 23):.1f}"
            lost.append(await _submit(api, {**v2v, "prompt": prompt}))
            await asyncio.sleep(2)
        references = await asyncio.gather(*refs)
    return {"relay": relay_ids, "reference": references, "v2v": lost, "warm": warm}


def run(bench: Bench) -> None:
    sim_port, sink_port = free_port(), free_port()
    sim_url, sink_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{sink_port}"
    sim = bench.child(
        "polllag-sim", [str(BENCH / "servers.py"), "timed", str(sim_port)], f"{sim_url}/_sim/stats"
    )
    sink = bench.child(
        "polllag-sink", [str(BENCH / "servers.py"), "timed-sink", str(sink_port)], f"{sink_url}/"
    )
    db = bench.work / "polllag.db"
    try:
        with bench.relay("polllag", db, sim_url=sim_url, downstream_urls=[f"{sink_url}/hook"]) as (
            _,
            port,
        ):
            relay_url = f"http://127.0.0.1:{port}"
            sample = asyncio.run(_sample(relay_url, sim_url, bench.plan.quick))
            ids = sample["relay"] + sample["v2v"]
            arrived = wait_until(
                lambda: httpx.get(f"{sink_url}/times").json(),
                lambda got: all(i in got for i in ids),
                300,
            )
            upstream = _upstream_ids(relay_url, ids)
        sim_tasks = {t["task_id"]: t for t in httpx.get(f"{sim_url}/_sim/tasks").json()}
        dropped = {
            c["task_id"]
            for c in httpx.get(f"{sim_url}/_sim/callbacks").json()
            if c["kind"] == "dropped"
        }
    finally:
        for child in (sim, sink):
            child.stop()
            bench.children.remove(child)
    relay = [
        (arrived[i] - sim_tasks[upstream[i]]["finished_at"], sim_tasks[upstream[i]]["polls"])
        for i in sample["relay"]
    ]
    reference = [
        (r["seen_at"] - sim_tasks[r["upstream"]]["finished_at"], r["polls"])
        for r in sample["reference"]
    ]
    lost = [upstream[i] for i in sample["v2v"] if upstream[i] in dropped]
    kept = [upstream[i] for i in sample["v2v"] if upstream[i] not in dropped]
    by_upstream = {u: i for i, u in upstream.items()}
    bench.results["polllag"] = {
        "sample": {"relay": pollmodel.summary(relay), "reference": pollmodel.summary(reference)},
        "lost_callbacks": {
            "tasks": len(lost),
            **(
                pollmodel.summary(
                    [
                        (
                            arrived[by_upstream[u]] - sim_tasks[u]["finished_at"],
                            sim_tasks[u]["polls"],
                        )
                        for u in lost
                    ]
                )
                if lost
                else {}
            ),
            # A task whose callback came is polled once, by the callback; past that is extra.
            "extra_polls_kept": round(
                sum(sim_tasks[u]["polls"] - 1 for u in kept) / max(len(kept), 1), 2
            ),
        },
        "model": pollmodel.run(600),
    }


def _upstream_ids(relay_url: str, ids: list[str]) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=relay_url, headers=headers) as api:
        return {i: api.get(f"/v1/tasks/{i}").json()["upstream_task_id"] for i in ids}


def rows(r: dict[str, Any]) -> list[Row]:
    if "polllag" not in r:
        return []
    p = r["polllag"]
    out: list[Row] = []
    for name, part in (
        ("real-time sample", p["sample"]),
        ("20 s-10 min, rule on a virtual clock", p["model"]),
    ):
        rel, ref = part["relay"], part["reference"]
        ratio = rel["polls_per_task"] / max(ref["polls_per_task"], 1e-9)
        out.append(
            (
                f"Poll lag, {name} ({rel['tasks']} tasks): CometAPI's end -> downstream",
                f"p50 {rel['p50_s']:.1f} s, p95 {rel['p95_s']:.1f} s, max {rel['max_s']:.1f} s;"
                f" {rel['polls_per_task']:.1f} polls = {ratio:.2f}x the SDK loop's",
                "p50 <= 2 s, p95 <= 6 s, <= 0.8x polls",
                verdict(rel["p50_s"] <= 2 and rel["p95_s"] <= 6 and ratio <= 0.8),
            )
        )
        out.append(
            (
                "  ... a client polling like Runway's SDK (6 s +- 1.5 s)",
                f"p50 {ref['p50_s']:.1f} s, p95 {ref['p95_s']:.1f} s, max {ref['max_s']:.1f} s;"
                f" {ref['polls_per_task']:.1f} polls",
                "-",
                "",
            )
        )
    lost = p["lost_callbacks"]
    if lost["tasks"]:
        out.append(
            (
                f"Lost callbacks ({lost['tasks']} video2video tasks): end -> downstream",
                f"p95 {lost['p95_s']:.1f} s, {lost['polls_per_task']:.1f} polls;"
                f" callbacks kept: {lost['extra_polls_kept']:.2f} extra polls",
                "p95 <= 30 s, <= 3 polls",
                verdict(lost["p95_s"] <= 30 and lost["polls_per_task"] <= 3),
            )
        )
    return out
