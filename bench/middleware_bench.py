"""What the service's own middleware adds to a request, in-process: copies of the app over the
fake-encoder index, one as shipped and one without a layer, called alternately in blocks
(paired), from many client addresses each well under its limit. CPU time per request (every
thread's: a storage's sweeper too), the median of the paired block differences.

    .venv/bin/python bench/middleware_bench.py [--path /v1/suggest] [--query q=...] [--blocks 200] [--proxy]

Layers: rate limits, body limit and Allow (app/ratelimit.py, app/web.py), uvicorn's proxy headers
(with --proxy), request metrics and the request's log line (app/metrics.py, app/logs.py; the
line is written at INFO to a discarded handler, as a service logging to a file would format it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware  # noqa: E402

from app.main import create_app  # noqa: E402
from app.metrics import RequestMetrics  # noqa: E402
from app.ratelimit import BodySizeLimitMiddleware, RateLimitMiddleware  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.web import AllowedMethods  # noqa: E402
from aurora_faq.build import build_index  # noqa: E402
from aurora_faq.encoders import FakeEncoder  # noqa: E402
from bench.table import machine, markdown  # noqa: E402

LAYERS = {
    "security (limits, body, Allow, proxy)": (RateLimitMiddleware, BodySizeLimitMiddleware, AllowedMethods,
                                              ProxyHeadersMiddleware),
    "metrics and the request's log line": (RequestMetrics,),
}
HEADERS = [(b"host", b"faq.example"), (b"user-agent", b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"),
           (b"accept", b"application/json"), (b"accept-language", b"ja,en;q=0.8"),
           (b"accept-encoding", b"gzip, deflate, br"), (b"referer", b"https://shop.example/help"),
           (b"origin", b"https://shop.example"), (b"connection", b"keep-alive")]


async def start(app: Any) -> None:
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    asyncio.get_running_loop().create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                                inbox.get, outbox.put))
    message = await outbox.get()
    assert message["type"] == "lifespan.startup.complete", message


async def call(app: Any, path: str, query: bytes, client: str, proxy: str | None) -> int:
    status = 0
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Future()  # the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    headers = HEADERS if proxy is None else [*HEADERS, (b"x-forwarded-for", client.encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
             "headers": list(headers), "client": (proxy or client, 50000), "server": ("faq.example", 80),
             "state": {}}
    await app(scope, receive, send)
    return status


async def paired(shipped: Any, without: Any, args: argparse.Namespace, clients: list[str],
                 proxy: str | None) -> tuple[float, float, float, float]:
    """CPU µs per request as shipped and without, and the paired median difference with its IQR."""
    query = args.query.encode()
    n = 0
    for app in (shipped, without):  # warm-up
        for _ in range(2000):
            assert await call(app, args.path, query, clients[n % len(clients)], proxy) == 200
            n += 1
    diffs, means = [], {"with": [], "without": []}
    for b in range(args.blocks):
        order = [("with", shipped), ("without", without)]
        random.Random(b).shuffle(order)
        block: dict[str, float] = {}
        for name, app in order:
            t = time.process_time()
            for _ in range(args.block):
                status = await call(app, args.path, query, clients[n % len(clients)], proxy)
                n += 1
            block[name] = (time.process_time() - t) / args.block * 1e6
            assert status == 200, status
            means[name].append(block[name])
        diffs.append(block["with"] - block["without"])
    q = statistics.quantiles(diffs, n=4)
    return statistics.median(means["with"]), statistics.median(means["without"]), statistics.median(diffs), q[2] - q[0]


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="/v1/suggest")
    parser.add_argument("--query", default="q=%E3%82%AF%E3%83%BC%E3%83%9D")  # クーポ
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--proxy", action="store_true", help="requests come through a trusted proxy")
    args = parser.parse_args(argv)
    # The request line formatted and dropped: its cost without a disk's.
    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(open("/dev/null", "w"))])

    root = Path(tempfile.mkdtemp())
    build_index(REPO / "data" / "faq.jsonl", root / "index", FakeEncoder(), cache_dir=None)
    settings = Settings(index_path=root / "index", encoder="fake", data_dir=root / "data", search_log=False,
                        trusted_proxies=["10.0.0.0/8"] if args.proxy else [])
    clients = [f"198.51.{i // 256 % 256}.{i % 256}" for i in range(args.clients)]
    proxy = "10.0.0.7" if args.proxy else None
    print(f"{machine()}; GET {args.path}?{args.query}, {args.clients} client addresses, "
          f"{args.blocks} blocks of {args.block} requests a side")
    rows = []
    for layer, classes in LAYERS.items():
        shipped, without = create_app(settings), create_app(settings)
        without.user_middleware = [m for m in without.user_middleware if m.cls not in classes]
        for app in (shipped, without):
            await start(app)
        with_us, without_us, added, iqr = await paired(shipped, without, args, clients, proxy)
        rows.append([layer, f"{without_us:.1f}", f"{with_us:.1f}", f"{added:+.1f}", f"{iqr:.1f}"])
    print(markdown(["layer", "CPU µs/request without", "as shipped", "added (paired median)", "IQR"], rows))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
