"""The storefront widget in a real browser: keystroke-to-suggestions time, and /v1/suggest's own time.

    .venv/bin/python bench/widget_bench.py [--samples 60] [--base-url http://127.0.0.1:8000]

Drives Debian's Chromium (Playwright for Python) on the demo page of the real service over loopback.
A sample types one more character of a partial question into the search box; it is timed from that
character's `input` event to the frame after the suggestion list was redrawn. That includes the widget's debounce
(120 ms, so a typist is not sent a request a key) and the wait for the next frame (up to 16.7 ms at 60 Hz),
so the time from the request to the list in the DOM is printed too.
The service's own time per /v1/suggest is its `Server-Timing` header when it sends one; otherwise
the round trip of a plain HTTP client on loopback is printed, an upper bound.

Also home of the helpers the browser tests share (tests/browser/conftest.py): a fresh real index,
the service on a free port, and Chromium launched as this machine can.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.support import CHROMIUM, chromium_missing, launch_chromium, service  # noqa: E402

# Partial questions, as a shopper has typed them when suggestions should already help.
PARTIALS = ["クーポ", "coup", "送料", "返品し", "キャンセ", "paym", "配送に", "how long", "ポイン", "track"]


# In the page: times one keystroke to the frame after the suggestion list changed.
_ARM = """() => {
  const root = document.querySelector('#faq-search').shadowRoot;
  const input = root.querySelector('[role=combobox]');
  const list = root.querySelector('[role=listbox]');
  const t = window.__bench = {};
  input.addEventListener('input', () => { t.key = performance.now(); }, {capture: true, once: true});
  const seen = new MutationObserver(() => {
    if (t.key === undefined) return;
    seen.disconnect();
    t.dom = performance.now();
    requestAnimationFrame(() => { t.shown = performance.now(); });
  });
  seen.observe(list, {childList: true});
}"""
_READ = """() => {
  const t = window.__bench;
  const req = performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/suggest')).pop();
  const timing = req && req.serverTiming ? req.serverTiming.map(s => ({name: s.name, duration: s.duration})) : [];
  return {key_ms: t.shown - t.key, request_ms: req ? t.shown - req.startTime : null,
          request_dom_ms: req ? t.dom - req.startTime : null, server_timing: timing};
}"""


def browser_samples(base_url: str, samples: int) -> list[dict[str, Any]]:
    """`samples` keystroke-to-suggestions timings on the demo page (Japanese and English partials)."""
    from playwright.sync_api import sync_playwright

    out: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/demo")
            box = page.get_by_role("combobox")
            box.click()
            for i in range(samples):
                partial = PARTIALS[i % len(PARTIALS)]
                box.fill(partial[:-1])
                page.wait_for_timeout(300)  # the prefix's own suggestions come and go first
                page.evaluate("performance.clearResourceTimings()")
                page.evaluate(_ARM)
                page.keyboard.type(partial[-1])
                page.wait_for_function("() => window.__bench.shown !== undefined", timeout=10_000)
                out.append({"partial": partial, **page.evaluate(_READ)})
        finally:
            browser.close()
    return out


def server_samples(base_url: str, samples: int) -> tuple[list[float], list[float]]:
    """Round trips of /v1/suggest from a plain client, and the server's own times (Server-Timing), in ms."""
    rtt, server = [], []
    with httpx.Client(base_url=base_url) as client:
        for i in range(samples):
            started = time.perf_counter()
            r = client.get("/v1/suggest", params={"q": PARTIALS[i % len(PARTIALS)], "k": 5})
            rtt.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
            server += server_timing_ms(r.headers.get("server-timing", ""))
    return rtt, server


def server_timing_ms(header: str) -> list[float]:
    """The `dur` of every metric in a Server-Timing header (`app;dur=0.42, db;dur=0.1` -> [0.42, 0.1])."""
    out = []
    for metric in filter(None, (m.strip() for m in header.split(","))):
        for param in metric.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name == "dur":
                out.append(float(value))
    return out


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(name: str, values: Sequence[float]) -> str:
    if not values:
        return f"{name}: n/a"
    return (f"{name}: p50 {pct(values, 50):.1f} ms, p95 {pct(values, 95):.1f} ms "
            f"(mean {statistics.fmean(values):.1f}, n={len(values)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60, help="keystrokes timed in the browser")
    parser.add_argument("--server-samples", type=int, default=300, help="/v1/suggest requests from a plain client")
    parser.add_argument("--base-url", help="a running service to measure (default: start one over the real index)")
    parser.add_argument("--json", action="store_true", help="print the samples as JSON too")
    args = parser.parse_args(argv)
    missing = chromium_missing()
    if missing:
        parser.error(missing)

    with tempfile.TemporaryDirectory() as tmp, (
        _given(args.base_url) if args.base_url else service(Path(tmp))
    ) as base_url:
        server_samples(base_url, 20)  # warm-up: first-call costs, the suggestion index's caches
        rtt, server = server_samples(base_url, args.server_samples)
        browser = browser_samples(base_url, args.samples)

    print(f"widget bench against {base_url} (Chromium {chromium_version()}, loopback)")
    print(summary("keystroke -> suggestions drawn (incl. 120 ms debounce)", [s["key_ms"] for s in browser]))
    print(summary("suggest request start -> suggestions drawn", [s["request_ms"] for s in browser if s["request_ms"]]))
    print(summary("suggest request start -> suggestions in the DOM (before the frame)",
                  [s["request_dom_ms"] for s in browser if s["request_dom_ms"]]))
    in_browser = [t["duration"] for s in browser for t in s["server_timing"]]
    if server:
        print(summary("/v1/suggest server time (Server-Timing)", server))
        print(summary("/v1/suggest server time seen from the browser (Server-Timing)", in_browser))
    else:
        print("/v1/suggest sends no Server-Timing header: plain-client round trips instead")
    print(summary("/v1/suggest round trip, httpx on loopback", rtt))
    if args.json:
        print(json.dumps({"browser": browser, "rtt_ms": rtt, "server_ms": server}, ensure_ascii=False))
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url.rstrip("/")


def chromium_version() -> str:
    try:
        done = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.strip().removeprefix("Chromium ") or "?"


if __name__ == "__main__":
    sys.exit(main())
