"""The storefront widget's budget: widget.js and the chat it imports, gzipped, at most 20,000 bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "app" / "static"
BUDGET = 20_000  # bytes, gzip -9: search box + chat, their CSS included (it lives in the JS)
# What a shop's visitor downloads; demo.* belong to the demo page only.
WIDGET_FILES = ["widget.js", "chat.js"]


def gzipped_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def test_widget_fits_the_size_budget() -> None:
    sizes = {name: gzipped_size(STATIC / name) for name in WIDGET_FILES}
    total = sum(sizes.values())
    print(" + ".join(f"{n} {s:,} B" for n, s in sizes.items()) + f" = {total:,} B gzipped (budget {BUDGET:,})")
    assert total <= BUDGET, f"the widget is {total:,} bytes gzipped, over the {BUDGET:,}-byte budget: {sizes}"


def test_every_script_the_widget_loads_is_counted() -> None:
    """A new .js file in app/static is either part of the widget (counted) or the demo's own."""
    scripts = {p.name for p in STATIC.glob("*.js")}
    assert scripts - {"demo.js"} == set(WIDGET_FILES)
