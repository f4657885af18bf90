"""Does a page fit its screen? Measured in the browser at a phone's and a desktop's size:
the page no wider than the viewport, each table no wider than its card (on a phone a table
may scroll inside its own box), the navigation on screen, each name (`.name`) whole on one
line. With RELAY_SCREENSHOTS=1 the page is saved to docs/screens/<page>-<width>.png as it
was measured."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

PHONE = (390, 844)
DESKTOP = (1280, 900)
SIZES = (PHONE, DESKTOP)
SCREENS = Path(__file__).parent.parent.parent / "docs" / "screens"
SCREENSHOTS = os.environ.get("RELAY_SCREENSHOTS") == "1"
TALLEST = 2200  # a screenshot's height at most: the top of a long page says enough

# What the page measures of itself, in one script: widths in CSS pixels.
_MEASURE = """
const phone = arguments[0];
const page = {width: document.documentElement.scrollWidth, viewport: window.innerWidth};
const tables = [];
for (const table of document.querySelectorAll('table')) {
  const box = table.closest(phone ? '.scroll, .card' : '.card') || document.body;
  const id = table.id || table.className || 'table';
  tables.push({id: id, width: Math.ceil(table.getBoundingClientRect().width),
               box: Math.ceil(box.clientWidth)});
}
const off = [];
for (const el of document.querySelectorAll('header nav a, header button')) {
  const r = el.getBoundingClientRect();
  const away = r.width === 0 || r.right > window.innerWidth + 1 || r.left < -1;
  if (away) off.push(el.textContent.trim());
}
// A name is never broken inside: one line, and not cut short.
const broken = [];
for (const el of document.querySelectorAll('.name')) {
  if (el.getClientRects().length > 1 || el.scrollWidth > el.clientWidth + 1) {
    broken.push(el.textContent.trim());
  }
}
return {page: page, tables: tables, off: off, broken: broken};
"""


def emulate(driver: Any, size: tuple[int, int]) -> None:
    metrics = {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def measure(driver: Any, name: str, size: tuple[int, int], keep: bool = True) -> list[str]:
    """What does not fit on the page now open, at `size`, in words (empty: it all fits);
    `keep`: its screenshot is one of docs/screens/ (a page of a few lines is not)."""
    emulate(driver, size)
    seen = driver.execute_script(_MEASURE, size == PHONE)
    where = f"{name} at {size[0]}px"
    wrong = []
    page = seen["page"]
    if page["width"] > page["viewport"] or page["viewport"] != size[0]:
        wrong.append(f"{where}: the page is {page['width']}px wide in {page['viewport']}px")
    for table in seen["tables"]:
        if table["width"] > table["box"] + 1:
            wrong.append(f"{where}: table {table['id']} {table['width']}px in {table['box']}px")
    if seen["off"]:
        wrong.append(f"{where}: off screen: {', '.join(seen['off'])}")
    if seen["broken"]:
        wrong.append(f"{where}: names broken or cut: {', '.join(seen['broken'])}")
    if SCREENSHOTS and keep:
        _shoot(driver, SCREENS / f"{name}-{size[0]}.png", size)
    return wrong


def page_width(driver: Any, size: tuple[int, int]) -> int:
    emulate(driver, size)
    return int(driver.execute_script("return document.documentElement.scrollWidth;"))


def _shoot(driver: Any, path: Path, size: tuple[int, int]) -> None:
    width, height = driver.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight];"
    )
    tall = min(max(height, 200), TALLEST)
    clip = {"x": 0, "y": 0, "width": max(width, size[0]), "height": tall, "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


# Each match of a pattern in the page's visible text: is it on one line?
_PHRASES = """
const patterns = arguments[0].map((p) => new RegExp(p, 'g'));
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const broken = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  for (const pattern of patterns) {
    for (const found of node.data.matchAll(pattern)) {
      const range = document.createRange();
      range.setStart(node, found.index);
      range.setEnd(node, found.index + found[0].length);
      const rects = [...range.getClientRects()].filter((r) => r.width > 0);
      if (new Set(rects.map((r) => Math.round(r.bottom))).size > 1) broken.push(found[0]);
    }
  }
}
return broken;
"""
AGO = r"(made|used)?\s?\d+\s(s|min|h|d)\sago"


def broken_phrases(driver: Any, name: str, size: tuple[int, int], patterns: list[str]) -> list[str]:
    """The phrases matching `patterns` (JavaScript regular expressions, `\\s` a space of
    any kind) that a line break cuts in two on the page now open, at `size`, in words."""
    emulate(driver, size)
    broken = driver.execute_script(_PHRASES, patterns)
    return [f"{name} at {size[0]}px: broken inside: {', '.join(broken)}"] if broken else []
