"""What storing every search costs: the service with its search log on (as shipped) and off
(AURORA_SEARCH_LOG=false), side by side, paired.

    .venv/bin/python bench/log_bench.py [--c1-requests 150] [--c1-rounds 2] [--c16-requests 400]
                                        [--c16-rounds 6] [--index index]

Two servers over the same index, each with its own SQLite database, run at once. At
concurrency 1 each first-time question goes to both in turn, the order alternating
(bench/experiments/ab.py), and the median of the paired differences is the cost a search pays.
At concurrency 16 each round starts both afresh and sends both the same new mix (bench/perf.py's:
20 % repeats), one after the other, the order alternating (ABBA...): the ratio of their
requests/s is taken round by round. Then the same mix again, every question now a cache hit
(~2,000 searches/s: where a search's own cost is smallest, the log's share is largest). The
targets (issue 15): at most 0.3 ms at c=1 and 5 % of c=16 throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aurora_faq.encoders import DEFAULT_ENCODER  # noqa: E402
from bench import procstat, servers  # noqa: E402
from bench.experiments.ab import ask_both, median_interval  # noqa: E402
from bench.loadgen import run_load  # noqa: E402
from bench.table import machine, markdown  # noqa: E402
from bench.workload import make_mixes, read_query_texts, warmup_texts  # noqa: E402

SIDES = {"log on": {}, "log off": {"AURORA_SEARCH_LOG": "false"}}
C1_TARGET_MS = 0.3
C16_TARGET = 0.05


def start_pair(stack: ExitStack, args: argparse.Namespace, data: Path) -> tuple[servers.Server, servers.Server]:
    """Both servers, started afresh (empty caches), each with its own database under `data`."""
    started = []
    for name, env in SIDES.items():
        target = replace(servers.aurora(args.index, args.encoder), name=name,
                         env={**servers.NO_RATE_LIMITS, **env, "AURORA_DATA_DIR": str(data / name)})
        started.append(stack.enter_context(servers.serve(target, args.logs / f"log-bench-{name}.log",
                                                         servers.clean_env())))
    return started[0], started[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, default=REPO / "index")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--c1-requests", type=int, default=150)
    p.add_argument("--c1-rounds", type=int, default=2)
    p.add_argument("--c16-requests", type=int, default=400)
    p.add_argument("--c16-rounds", type=int, default=6)
    p.add_argument("--logs", type=Path, default=REPO / "bench" / "results" / "logs")
    args = p.parse_args(argv)
    if not (args.index / "manifest.json").exists():
        raise SystemExit(f"no index at {args.index}; build one with `make index`")
    texts = read_query_texts(REPO / "data" / "eval" / "aurora_queries.jsonl")
    print(f"{machine()}; index {args.index}, encoder {args.encoder}")

    with tempfile.TemporaryDirectory(prefix="aurora-log-bench-") as tmp:
        with ExitStack() as stack:
            on, off = start_pair(stack, args, Path(tmp) / "c1")
            pairs: tuple[list[float], list[float]] = ([], [])
            for round_ in range(args.c1_rounds):
                mix = make_mixes(texts, 1, args.c1_requests, seed=100 + round_)[0]
                a, b = asyncio.run(ask_both((on.base_url, off.base_url), [(r.text, r.repeat) for r in mix]))
                pairs[0].extend(a)
                pairs[1].extend(b)
        diffs = np.array(pairs[0]) - np.array(pairs[1])
        low, high = median_interval(diffs)
        cost = float(np.median(diffs))
        print(f"\nconcurrency 1: {len(diffs)} first-time questions asked of both (aiohttp)")
        print(markdown(["log on p50 ms", "log off p50 ms", "median of paired on − off", "95 % interval",
                        f"target ≤ {C1_TARGET_MS} ms"],
                       [[f"{np.median(pairs[0]):.2f}", f"{np.median(pairs[1]):.2f}", f"{cost:+.3f}",
                         f"{low:+.3f} to {high:+.3f}", "met" if cost <= C1_TARGET_MS else "not met"]]))

        rps: dict[str, dict[str, list[float]]] = {kind: {"log on": [], "log off": []} for kind in ("fresh", "cached")}
        warmup = warmup_texts()
        for round_ in range(args.c16_rounds):
            mix = make_mixes(texts, 1, args.c16_requests, seed=200 + round_)[0]
            with ExitStack() as stack:
                pair = start_pair(stack, args, Path(tmp) / f"c16-{round_}")
                for kind in ("fresh", "cached"):
                    for server in pair if round_ % 2 == 0 else pair[::-1]:
                        run = run_load(server.base_url, server.target.request, mix, 16, warmup,
                                       lambda pid=server.pid: procstat.cpu_seconds(pid))
                        if run.errors:
                            raise SystemExit(f"{server.target.name}: {run.errors} failed requests")
                        rps[kind][server.target.name].append(run.rps)
        print(f"\nconcurrency 16: {args.c16_rounds} rounds of {args.c16_requests} requests each side, fresh "
              "servers a round, ABBA order")
        rows = []
        for kind, by_side in rps.items():
            ratios = [a / b for a, b in zip(by_side["log on"], by_side["log off"], strict=True)]
            loss = 1 - statistics.median(ratios)
            rows.append([kind, f"{statistics.median(by_side['log on']):.0f}",
                         f"{statistics.median(by_side['log off']):.0f}", f"{statistics.median(ratios):.3f}",
                         f"{loss:+.1%}", "met" if loss <= C16_TARGET else "not met"])
        print(markdown(["questions", "log on req/s (median)", "log off req/s (median)", "median of paired on / off",
                        "throughput lost", f"target ≤ {C16_TARGET:.0%}"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
