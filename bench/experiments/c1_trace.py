"""Where a first-time question's time goes at concurrency 1, through a real socket.

    .venv/bin/python bench/experiments/c1_trace.py [--index index] [--encoder e5+use] [--requests 150]

Starts `python -m app`'s app as shipped (micro-batched) in a child process with timestamps
taken inside it (the ASGI call, the route, `Engine.encode`, `Engine.answer`, the last byte
sent), sends one question at a time from an aiohttp client over 127.0.0.1, and prints p50, p95
and p99 of each step beside the client's round trip (each step's percentiles on their own:
they add up only roughly, at p50). bench/experiments/app_time.py splits the same time
in-process, without a socket; this adds the HTTP server and the client. Diagnostic only: the
timestamps cost a few microseconds a step, and nothing here compares against the floor
(bench/perf.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from aurora_faq.encoders import DEFAULT_ENCODER  # noqa: E402
from bench import servers  # noqa: E402
from bench.workload import make_mixes, read_query_texts, warmup_texts  # noqa: E402

# (label, from, to): consecutive marks, so the steps add up to the ASGI time.
STEPS = [("ASGI call to the route (routing, validation)", "asgi", "route"),
         ("route to the encoder (cache lookup, threadpool hop, micro-batcher)", "route", "encode"),
         ("encoding", "encode", "encoded"),
         ("micro-batcher to ranking", "encoded", "answer"),
         ("ranking, calibration, decision (Engine.answer)", "answer", "answered"),
         ("hop back to the event loop, response built and logged", "answered", "routed"),
         ("response sent", "routed", "sent")]


def serve(index: Path, encoder: str, port: int, out: Path) -> None:
    """The service with timestamps; writes them to `out` as JSON when stopped (SIGINT)."""
    import uvicorn

    import app.routes.search as route
    from app.main import create_app
    from app.settings import Settings
    from aurora_faq.engine import Engine

    marks: list[dict[str, float]] = []

    def timed(fn: Any, start: str, end: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            marks[-1][start] = time.perf_counter()
            result = fn(*args, **kwargs)
            marks[-1][end] = time.perf_counter()
            return result
        return wrapper

    Engine.encode = timed(Engine.encode, "encode", "encoded")  # type: ignore[method-assign]
    Engine.answer = timed(Engine.answer, "answer", "answered")  # type: ignore[method-assign]
    search = route._search

    async def timed_search(*args: Any, **kwargs: Any) -> Any:
        marks[-1]["route"] = time.perf_counter()
        response = await search(*args, **kwargs)
        marks[-1]["routed"] = time.perf_counter()
        return response

    route._search = timed_search
    inner = create_app(Settings(index_path=index, encoder=encoder, log_level="warning", **servers.UNLIMITED))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/search":
            return await inner(scope, receive, send)
        mark = {"asgi": time.perf_counter()}
        marks.append(mark)

        async def sent(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                mark["sent"] = time.perf_counter()

        await inner(scope, receive, sent)

    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        out.write_text(json.dumps(marks))


async def drive(base: str, texts: list[str]) -> list[float]:
    import aiohttp

    async with aiohttp.ClientSession(base) as session:
        for _ in range(600):
            try:
                async with session.get("/readyz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        lat = []
        for text in [*warmup_texts(), *texts]:
            t = time.perf_counter()
            async with session.get("/v1/search", params={"q": text, "k": "3"}) as r:
                await r.read()
            lat.append(time.perf_counter() - t)
    return lat[len(warmup_texts()):]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, default=REPO / "index")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="the one the index was built with")
    p.add_argument("--requests", type=int, default=150)
    p.add_argument("--serve", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.index, args.encoder, int(args.serve[0]), Path(args.serve[1]))
        return 0
    mix = make_mixes(read_query_texts(REPO / "data" / "eval" / "aurora_queries.jsonl"), 1, args.requests)[0]
    texts = [r.text for r in mix if not r.repeat]  # first-time questions only
    port = servers.free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "marks.json"
        env = servers.clean_env()
        server = subprocess.Popen([sys.executable, __file__, "--index", str(args.index), "--encoder", args.encoder,
                                   "--serve", str(port), str(out)],
                                  cwd=REPO, env=env)
        try:
            lat = asyncio.run(drive(f"http://127.0.0.1:{port}", texts))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        marks = json.loads(out.read_text())[len(warmup_texts()):]
    def ms(xs: list[float]) -> str:
        return " | ".join(f"{float(np.percentile(xs, q)) * 1000:.2f}" for q in (50, 95, 99))

    print(f"{len(texts)} first-time questions, concurrency 1; percentiles of each step on its own, in ms")
    print(f"| step | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|\n| client round trip | {ms(lat)} |")
    print(f"| the server, ASGI call to last byte | {ms([m['sent'] - m['asgi'] for m in marks])} |")
    for label, a, b in STEPS:
        print(f"| {label} | {ms([m[b] - m[a] for m in marks])} |")
    print(f"| client and HTTP parsing (round trip − server) | "
          f"{ms([t - (m['sent'] - m['asgi']) for t, m in zip(lat, marks, strict=True)])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
