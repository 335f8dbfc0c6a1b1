"""Server time of one search, split: the app called in-process through ASGI (no socket, no
client), so what the service itself spends is separated from the HTTP round trip.

    .venv/bin/python bench/experiments/app_time.py [--index index] [--encoder e5+use] [--requests 150]

For each first-time question of bench/perf.py's c=1 mix: the encoder alone on it, then
`GET /v1/search` (a cache miss), then the same request again (answered from the engine's LRU).
Prints p50, p95 and p99 of each, and the performance issue's "repeated query < 1 ms of server
time" target.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from aurora_faq.encoders import DEFAULT_ENCODER  # noqa: E402
from aurora_faq.text import normalize  # noqa: E402
from bench import servers  # noqa: E402
from bench.asgi import get  # noqa: E402
from bench.table import markdown  # noqa: E402
from bench.workload import make_mixes, read_query_texts  # noqa: E402


async def call(app: Any, path: str, params: dict[str, str]) -> int:
    """One GET through the ASGI interface; returns the status."""
    status, _, _ = await get(app, path, params)
    return status


def time_encode(encoder: Any, query: str) -> float:
    t = time.perf_counter()
    encoder.encode_queries([normalize(query)])
    return (time.perf_counter() - t) * 1000


async def measure(index: Path, encoder: str, queries: list[str]) -> dict[str, list[float]]:
    app = create_app(Settings(index_path=index, encoder=encoder, **servers.UNLIMITED))
    out: dict[str, list[float]] = {"encode_ms": [], "fresh_ms": [], "repeat_ms": []}
    async with app.router.lifespan_context(app):
        engine = app.state.serving.current.engine
        for q in [f"warm-up {i}" for i in range(5)]:
            await call(app, "/v1/search", {"q": q, "k": "3"})
        for q in queries:
            # In the threadpool the route's own encode runs in, not on the event loop's thread.
            out["encode_ms"].append(await anyio.to_thread.run_sync(time_encode, engine.encoder, q))
            for key in ("fresh_ms", "repeat_ms"):
                t = time.perf_counter()
                status = await call(app, "/v1/search", {"q": q, "k": "3"})
                out[key].append((time.perf_counter() - t) * 1000)
                if status != 200:
                    raise RuntimeError(f"/v1/search answered {status} for {q!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / "index")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="the one the index was built with")
    parser.add_argument("--requests", type=int, default=150, help="bench/perf.py's --requests")
    args = parser.parse_args(argv)
    # As `python -m app` does: INFO, so each search pays for its log line (sent nowhere here).
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    mix = make_mixes(read_query_texts(REPO / "data" / "eval" / "aurora_queries.jsonl"), 1, args.requests)[0]
    queries = [r.text for r in mix if not r.repeat]
    t = {k: np.array(v) for k, v in asyncio.run(measure(args.index, args.encoder, queries)).items()}
    rows = [[name, *(f"{x:.2f}" for x in np.percentile(v, [50, 95, 99]))]
            for name, v in (("encoder alone", t["encode_ms"]), ("GET /v1/search, cache miss", t["fresh_ms"]),
                            ("  of which not encoding", t["fresh_ms"] - t["encode_ms"]),
                            ("GET /v1/search, repeated (LRU)", t["repeat_ms"]))]
    print(f"{len(queries)} first-time questions of the c=1 mix, encoder {args.encoder}")
    print(markdown(["server time, in-process ASGI", "p50 ms", "p95 ms", "p99 ms"], rows))
    repeat = float(np.percentile(t["repeat_ms"], 50))
    print(f"\nrepeated query < 1 ms of server time (p50): {repeat:.2f} ms, {'met' if repeat < 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
