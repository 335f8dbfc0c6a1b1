"""Paired A/B of two versions of the service at concurrency 1: every question goes to both.

    .venv/bin/python bench/experiments/ab.py --b-src /path/to/other/checkout [--rounds 2]
    .venv/bin/python bench/experiments/ab.py --a-env AURORA_BATCH_MAX=1          # a setting against none
    .venv/bin/python bench/experiments/ab.py --a-env GOMP_SPINCOUNT=100000 --gap-ms 150   # questions apart

Before and after a change: `git worktree add /tmp/aurora-before HEAD` makes the committed
version a checkout of its own, and `--b-src /tmp/aurora-before` pairs it (B) with the working
tree (A); `--b-index` when the two read different index formats.

Two servers (`python -m app` with this virtualenv's Python, run from this checkout or from
`--a-src` / `--b-src`, so each imports the `app` and `aurora_faq` found there) run side by
side. Each question of bench/perf.py's c=1 mix goes to one and then to the other, the order
alternating, so both meet the machine in the same state within milliseconds. On this VM
the floor moves by 1-4 ms between minutes, more than most changes a run of bench/perf.py
could show; paired questions cancel that drift. Prints the p50 of first-time questions of
each side and the median of the paired differences (A - B) with a bootstrap 95 % interval.
The client is aiohttp: its cost is the same on both sides and cancels out of the difference.
Each round starts both servers afresh (no cache carried over) and draws its own mix.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import aiohttp
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from aurora_faq.encoders import DEFAULT_ENCODER  # noqa: E402
from bench import servers  # noqa: E402
from bench.table import markdown  # noqa: E402
from bench.workload import make_mixes, read_query_texts, warmup_texts  # noqa: E402


def parse_env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--a-env / --b-env take KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


async def ask_both(bases: tuple[str, str], texts: list[tuple[str, bool]],
                   gap_s: float = 0.0) -> tuple[list[float], list[float]]:
    """Send each text to both servers in turn (A first on even questions); first-time times in ms.

    With `gap_s`, every request waits that long after the last answer: a shopper typing, where
    each question meets a server that has gone idle (and the other server's idle too).
    """
    times: tuple[list[float], list[float]] = ([], [])
    async with aiohttp.ClientSession() as session:
        for base in bases:
            for text in warmup_texts():
                async with session.get(f"{base}/v1/search", params={"q": text}) as r:
                    await r.read()
        for i, (text, repeat) in enumerate(texts):
            for side in (0, 1) if i % 2 == 0 else (1, 0):
                if gap_s:
                    await asyncio.sleep(gap_s)
                t = time.perf_counter()
                async with session.get(f"{bases[side]}/v1/search", params={"q": text, "k": "3"}) as r:
                    await r.read()
                    if r.status != 200:
                        raise SystemExit(f"{bases[side]} answered {r.status}: {await r.text()}")
                if not repeat:
                    times[side].append((time.perf_counter() - t) * 1000)
    return times


def median_interval(diffs: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95 % interval of the median of `diffs`."""
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(diffs, size=(resamples, len(diffs))), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a-src", type=Path, default=REPO, help="checkout whose `app` side A runs (default: this one)")
    p.add_argument("--b-src", type=Path, default=REPO, help="checkout whose `app` side B runs (default: this one)")
    p.add_argument("--a-env", action="append", default=[], metavar="KEY=VALUE", help="set for side A only")
    p.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE", help="set for side B only")
    p.add_argument("--index", type=Path, default=REPO / "index",
                   help="index both serve; both versions must read its format")
    p.add_argument("--a-index", type=Path, help="index side A serves instead (built by its version)")
    p.add_argument("--b-index", type=Path, help="index side B serves instead (built by its version)")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="the one the index was built with")
    p.add_argument("--requests", type=int, default=150, help="requests a round, as bench/perf.py's")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--gap-ms", type=float, default=0.0,
                   help="idle time before each request (default 0: back to back, as bench/perf.py's c=1)")
    p.add_argument("--logs", type=Path, default=REPO / "bench" / "results" / "logs")
    args = p.parse_args(argv)
    srcs = (args.a_src.resolve(), args.b_src.resolve())
    indexes = ((args.a_index or args.index).resolve(), (args.b_index or args.index).resolve())
    for src, index in zip(srcs, indexes, strict=True):
        if not (src / "app" / "__main__.py").exists():
            raise SystemExit(f"no service checkout at {src} (no app/__main__.py)")
        if not (index / "manifest.json").exists():
            raise SystemExit(f"no index at {index}; build one with scripts/build_index.py")
    env = [parse_env(args.a_env), parse_env(args.b_env)]
    texts = read_query_texts(REPO / "data" / "eval" / "aurora_queries.jsonl")
    a: list[float] = []
    b: list[float] = []
    for round_ in range(args.rounds):
        mix = make_mixes(texts, 1, args.requests, seed=round_)[0]
        with ExitStack() as stack:
            bases = []
            for side, (src, index) in enumerate(zip(srcs, indexes, strict=True)):
                target = replace(servers.aurora(index, args.encoder), name=f"ab-{'AB'[side]}",
                                 env={**servers.NO_RATE_LIMITS, **env[side]}, cwd=src)
                server = stack.enter_context(servers.serve(target, args.logs / f"ab-{'AB'[side]}.log",
                                                           servers.clean_env()))
                bases.append(server.base_url)
            ta, tb = asyncio.run(ask_both((bases[0], bases[1]), [(r.text, r.repeat) for r in mix], args.gap_ms / 1000))
        a += ta
        b += tb
    diffs = np.array(a) - np.array(b)
    low, high = median_interval(diffs)
    for name, src, index, pairs in zip("AB", srcs, indexes, (args.a_env, args.b_env), strict=True):
        print(f"{name}: {src} {' '.join(pairs)} (index {index})")
    gap = f", {args.gap_ms:g} ms idle before each request" if args.gap_ms else ""
    print(f"{args.rounds} round(s), {len(diffs)} first-time questions asked of both, concurrency 1 (aiohttp){gap}")
    print(markdown(["A p50 ms", "B p50 ms", "A p50 − B p50", "median of paired A − B", "95 % interval"],
                   [[f"{np.median(a):.2f}", f"{np.median(b):.2f}", f"{np.median(a) - np.median(b):+.2f}",
                     f"{np.median(diffs):+.3f}", f"{low:+.3f} to {high:+.3f}"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
