"""The home page's charts, drawn on the server as SVG: no script, no library, no request.
Pure functions of the store's `Activity` and the clock; every text in them is escaped
(downstream names above all: they come from the config)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable

from markupsafe import Markup, escape

from receiver.operator.rows import Activity

HOURS = 24
WIDTH, HEIGHT = 720, 210
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 30, 24
OUTCOMES = (("succeeded", "#16a34a"), ("failed", "#dc2626"), ("cancelled", "#94a3b8"))
PALETTE = ("#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d")


def colour(number: int) -> str:
    """The `number`th series' colour: the palette's, then hues a golden angle apart, so
    that no two series of a chart share one however many there are."""
    if number < len(PALETTE):
        return PALETTE[number]
    return f"hsl({(number - len(PALETTE)) * 137.508 % 360:.0f}, 70%, 40%)"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times 10^k at or above `value` (an axis's top)."""
    if value <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * step:
            return float(factor * step)
    return float(10 * step)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _hour_label(epoch: float) -> str:
    return time.strftime("%H:00", time.gmtime(epoch))


class _Frame:
    """One panel: the last 24 hours' slots across, a value axis up to `top`."""

    def __init__(self, now: float, top: float = 1.0) -> None:
        self.first_hour = (now // 3600) * 3600 - (HOURS - 1) * 3600
        self.top = top
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM
        self.slot = self.plot_w / HOURS

    def slot_of(self, hour: float) -> int | None:
        index = round((hour - self.first_hour) / 3600)
        return index if 0 <= index < HOURS else None

    def x(self, index: float) -> float:
        return LEFT + index * self.slot

    def y(self, value: float) -> float:
        return TOP + self.plot_h * (1 - value / self.top)

    def axes(self, title: str) -> list[str]:
        parts = [f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>']
        for fraction in (0.0, 0.5, 1.0):
            value = self.top * fraction
            y = self.y(value)
            parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"'
                ' class="chart-grid"/>'
            )
            parts.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-tick">'
                f"{escape(_number(value))}</text>"
            )
        for index in range(0, HOURS, 6):
            x = self.x(index)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" class="chart-tick">'
                f"{_hour_label(self.first_hour + index * 3600)}</text>"
            )
        return parts


def tasks_chart(activity: Activity, now: float) -> Markup:
    """Tasks that ended in each of the last 24 hours, stacked by outcome."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    probe = _Frame(now)
    for hour, state, n in activity.tasks:
        index = probe.slot_of(hour)
        if index is not None:
            counts[index][state] = counts[index].get(state, 0) + n
    highest = max((sum(c.values()) for c in counts.values()), default=0)
    frame = _Frame(now, nice_ceiling(highest))
    parts = frame.axes("Tasks ended per hour (UTC)")
    bar_w = frame.slot * 0.7
    colours = dict(OUTCOMES)
    for index, by_state in sorted(counts.items()):
        base = 0
        known = [s for s, _ in OUTCOMES if s in by_state]
        others = sorted(s for s in by_state if s not in colours)
        for state in [*known, *others]:
            n = by_state[state]
            y_top, y_base = frame.y(base + n), frame.y(base)
            tip = f"{_hour_label(frame.first_hour + index * 3600)} UTC: {n} {state}"
            parts.append(
                f'<rect x="{frame.x(index) + (frame.slot - bar_w) / 2:.1f}" y="{y_top:.1f}"'
                f' width="{bar_w:.1f}" height="{max(y_base - y_top, 0.5):.1f}"'
                f' fill="{colours.get(state, "#64748b")}"><title>{escape(tip)}</title></rect>'
            )
            base += n
    empty = "" if counts else "No task ended in the last 24 hours"
    label = "Tasks ended per hour over the last 24 hours, by outcome"
    return _chart(parts, empty, label, "Outcomes", list(OUTCOMES))


def _chart(
    parts: list[str], empty: str, label: str, what: str, key: list[tuple[str, str]]
) -> Markup:
    """The drawing (saying `empty` when it has nothing to draw) with its key under it, each
    name whole beside its colour: text of the page, not of the drawing, so that it keeps its
    size on a phone and a long name wraps to a line of its own instead of being cut."""
    if empty:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="chart-empty">'
            f"{empty}</text>"
        )
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}"'
        ' class="chart" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>" + "".join(parts) + "</svg>"
    )
    items = [
        f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10"'
        f' height="10" rx="2" fill="{shade}"/></svg>{escape(name)}</li>'
        for name, shade in key
    ]
    listed = f'<ul class="chart-key" aria-label="{what}">{"".join(items)}</ul>'
    return Markup(f'<div class="chart-box">{svg}{listed}</div>')


def latency_chart(
    activity: Activity,
    now: float,
    name: Callable[[str], str] = str,
    left_out: Callable[[str], bool] = lambda _: False,
) -> Markup:
    """Mean delivery latency per downstream (called by `name`: `acme/hooks`) in each of the
    last 24 hours; those `left_out` (read by pull: sent nothing) are not drawn."""
    probe = _Frame(now)
    series: dict[str, dict[int, tuple[float, int]]] = defaultdict(dict)
    for hour, downstream, mean_ms, attempts in activity.latency:
        index = probe.slot_of(hour)
        if index is not None and not left_out(downstream):
            series[name(downstream)][index] = (mean_ms, attempts)
    highest = max((ms for points in series.values() for ms, _ in points.values()), default=0.0)
    frame = _Frame(now, nice_ceiling(highest))
    parts = frame.axes("Delivery latency per downstream (mean ms per hour)")
    for number, (shown, points) in enumerate(sorted(series.items())):
        drawn = colour(number)
        centre = [
            (frame.x(i) + frame.slot / 2, frame.y(ms), ms, n)
            for i, (ms, n) in sorted(points.items())
        ]
        if len(centre) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in centre)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{drawn}" stroke-width="2"/>'
            )
        for (x, y, ms, n), index in zip(centre, sorted(points), strict=True):
            at = _hour_label(frame.first_hour + index * 3600)
            tip = f"{shown}, {at} UTC: {ms:.0f} ms, {n} attempts"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{drawn}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    empty = "" if series else "No delivery attempt in the last 24 hours"
    label = "Mean delivery latency per downstream over the last 24 hours"
    key = [(shown, colour(number)) for number, shown in enumerate(sorted(series))]
    return _chart(parts, empty, label, "Downstreams", key)
