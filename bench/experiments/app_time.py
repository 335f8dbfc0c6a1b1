"""Server time of one search, split: the app called in-process through ASGI (no socket, no
client), so what the service itself spends is separated from the HTTP round trip.

    .venv/bin/python bench/app_time.py --index DIR --encoder e5+use --queries queries.json

For each query: the encoder alone on it, then `GET /v1/search` (a cache miss), then the same
request again (answered from the engine's LRU). Prints JSON of per-query milliseconds.
Run as a subprocess by bench/perf.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from aurora_faq.text import normalize  # noqa: E402


async def call(app: Any, path: str, params: dict[str, str]) -> int:
    """One GET through the ASGI interface; returns the status."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": urlencode(params).encode(), "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def time_encode(encoder: Any, query: str) -> float:
    t = time.perf_counter()
    encoder.encode_queries([normalize(query)])
    return (time.perf_counter() - t) * 1000


async def measure(index: Path, encoder: str, queries: list[str]) -> dict[str, list[float]]:
    app = create_app(Settings(index_path=index, encoder=encoder))
    out: dict[str, list[float]] = {"encode_ms": [], "fresh_ms": [], "repeat_ms": []}
    async with app.router.lifespan_context(app):
        engine = app.state.engine
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
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--encoder", default="e5+use")
    parser.add_argument("--queries", type=Path, required=True, help="JSON list of query texts")
    args = parser.parse_args(argv)
    # As `python -m app` does: INFO, so each search pays for its log line (sent nowhere here).
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    queries = json.loads(args.queries.read_text(encoding="utf-8"))
    json.dump(asyncio.run(measure(args.index, args.encoder, queries)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
