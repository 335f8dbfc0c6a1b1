"""What the browser tests and `bench/widget_bench.py` share: the real index, the real service on
loopback, and Debian's Chromium through Playwright."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.server import clean_env, serve

REPO = Path(__file__).resolve().parents[2]
FAQ = REPO / "data" / "faq.jsonl"
ENCODER = "e5+use"
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium in a container: no sandbox (root), no GPU, nothing fetched in the background.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def index_is_fresh(index: Path) -> bool:
    """Whether `index` was written after the FAQ and the engine's code last changed (the Makefile's rule)."""
    manifest = index / "manifest.json"
    if not manifest.is_file():
        return False
    sources = [FAQ, REPO / "aurora_faq" / "background_queries.txt", *(REPO / "aurora_faq").glob("*.py")]
    built = manifest.stat().st_mtime
    return all(built > s.stat().st_mtime for s in sources if s.exists())


def ensure_index() -> Path:
    """The real index: `index/` when fresh, else `.cache/widget-index`, built there when stale (~15-30 s)."""
    for candidate in (REPO / "index", REPO / ".cache" / "widget-index"):
        if index_is_fresh(candidate):
            return candidate
    out = REPO / ".cache" / "widget-index"
    done = subprocess.run([sys.executable, "scripts/build_index.py", "--faq", str(FAQ), "--out", str(out),
                           "--encoder", ENCODER], cwd=REPO, capture_output=True, text=True,
                          env=clean_env())
    if done.returncode:
        raise RuntimeError(f"scripts/build_index.py failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return out


@contextmanager
def service(log_dir: Path, timeout_s: float = 120) -> Iterator[str]:
    """`python -m app` over the real index on a free loopback port; yields its base URL once /readyz is 200."""
    with serve(ensure_index(), log_dir, encoder=ENCODER, timeout_s=timeout_s) as server:
        yield server.base


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None when Chromium, Playwright and axe-core are all present."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install playwright)"
    if not (REPO / "node_modules" / "axe-core" / "axe.min.js").is_file():
        return "node_modules/axe-core missing (npm ci)"
    return None


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium through Playwright (`playwright install` cannot download browsers here)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
