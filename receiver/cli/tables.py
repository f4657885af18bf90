"""How the operator tools print: aligned tables (their dashed rule marks the columns, so a
script can cut them), times in UTC, short cells."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["-" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def share(progress: float | None) -> str:
    return f"{round(progress * 100)}%" if progress is not None else "-"


def shown(key: str, value: object) -> str:
    """One field of a record as the tables print it: times in UTC, progress in percent."""
    if value is None:
        return "-"
    if key.endswith("_at") and isinstance(value, int | float):
        return when(value)
    if key == "progress" and isinstance(value, int | float):
        return share(value)
    return str(value)


def short(text: str | None, width: int) -> str:
    """One line of at most `width` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def counted(count: int, one: str, many: str) -> str:
    """`1 delivery`, `2 deliveries`."""
    return f"{count:,} {one if count == 1 else many}"


def deliveries_table(deliveries: Sequence[Mapping[str, Any]], name: Callable[[str], str]) -> str:
    """The deliveries as answered, each downstream by the name people read (`name`, from
    the kept one: an app's as `APP/NAME`)."""
    return table(
        [
            "id",
            "task",
            "downstream",
            "state",
            "attempts",
            "last status",
            "next attempt",
            "last error",
        ],
        [
            [
                d["id"],
                d["task_id"],
                name(d["downstream"]),
                d["state"],
                d["attempts"],
                d["last_status"],
                when(d["next_attempt_at"]) if d["state"] == "pending" else "-",
                (d["last_error"] or "")[:60],
            ]
            for d in deliveries
        ],
    )


def downstreams_table(found: Sequence[Mapping[str, Any]], name: Callable[[str], str]) -> str:
    """Each downstream's health as answered, in the one vocabulary
    (receiver/downstreams/rules.py), its breaker under its own name (none for a pull
    downstream, `pulled`), and its deliveries."""
    return table(
        [
            "name",
            "health",
            "breaker",
            "since",
            "reason",
            "failing since",
            "delivered",
            "pending",
            "held",
            "dead",
        ],
        [
            [
                name(h["name"]),
                h["health"],
                None if h["pulled"] else h["breaker"].replace("_", "-"),
                when(h["disabled_at"] or h["breaker_changed_at"]),
                h["disabled_reason"],
                when(h["failing_since"]),
                *(h["deliveries"].get(s, 0) for s in ("succeeded", "pending", "held", "dead")),
            ]
            for h in found
        ],
    )
