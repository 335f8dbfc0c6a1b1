"""Wasted encodes in a typing simulation: shoppers whose widget aborts the previous request.

    .venv/bin/python bench/abandon_bench.py [--index index] [--encoder e5+use] [--shoppers 4]
        [--keystroke-ms 60] [--questions 40]

Each simulated shopper types questions from data/eval/aurora_queries.jsonl, a word (en) or two
characters (ja) at a time, `--keystroke-ms` apart, and sends `GET /v1/search` for the text so
far at every step, aborting the request for the previous step if it is still open, as the
widget's AbortController does. The service runs in this process (uvicorn on 127.0.0.1, the
real index and encoder) with its encoder wrapped to count what it encodes. Prints how many
requests were sent and aborted, how many texts were encoded, and how many encodes went to
requests whose answer no one read (wasted) against those the service dropped unencoded.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.main import create_app  # noqa: E402
from app.serving import load_engine  # noqa: E402
from app.settings import Settings  # noqa: E402
from aurora_faq.encoders import DEFAULT_ENCODER  # noqa: E402
from aurora_faq.query import Query  # noqa: E402
from aurora_faq.text import detect_lang  # noqa: E402
from bench import servers  # noqa: E402
from bench.servers import free_port  # noqa: E402
from bench.table import machine, markdown  # noqa: E402
from bench.workload import read_query_texts  # noqa: E402


def keystrokes(question: str) -> list[str]:
    """The texts a shopper has typed after each step: a word at a time in English, two
    characters at a time in Japanese (an IME commits a few characters at once)."""
    if detect_lang(question) == "en":
        words = question.split()
        return [" ".join(words[: i + 1]) for i in range(len(words))]
    return [question[:i] for i in range(2, len(question), 2)] + [question]


async def shopper(session: aiohttp.ClientSession, base: str, questions: Sequence[str], gap_s: float,
                  counts: dict[str, Any]) -> None:
    for question in questions:
        pending: asyncio.Task[Any] | None = None
        for text in keystrokes(question):
            if pending is not None and not pending.done():
                pending.cancel()  # the widget aborts the stale request
                counts["aborted"].add(text_of(pending))
            pending = asyncio.create_task(ask(session, base, text), name=text)
            counts["sent"] += 1
            await asyncio.sleep(gap_s)
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)


def text_of(task: asyncio.Task[Any]) -> str:
    return task.get_name()


async def ask(session: aiohttp.ClientSession, base: str, text: str) -> None:
    async with session.get(base, params={"q": text}) as response:
        await response.read()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", type=Path, default=ROOT / "index")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--shoppers", type=int, default=4)
    p.add_argument("--keystroke-ms", type=float, default=60.0)
    p.add_argument("--questions", type=int, default=40, help="questions each shopper types")
    args = p.parse_args(argv)
    settings = Settings(index_path=args.index, encoder=args.encoder, cache_size=0, log_level="warning",
                        **servers.UNLIMITED)
    engine = load_engine(settings)
    encoded: list[str] = []
    encode = engine.encode

    def counting(queries: Sequence[Query]) -> np.ndarray:
        encoded.extend(q.text for q in queries)
        return encode(queries)

    engine.encode = counting  # type: ignore[method-assign]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    texts = read_query_texts(ROOT / "data" / "eval" / "aurora_queries.jsonl")
    counts: dict[str, Any] = {"sent": 0, "aborted": set()}

    async def run() -> None:
        base = f"http://127.0.0.1:{port}/v1/search"
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(shopper(session, base, texts[i :: args.shoppers][: args.questions],
                                           args.keystroke_ms / 1000, counts) for i in range(args.shoppers)))

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    time.sleep(0.5)  # the last dropped searches finish
    server.should_exit = True
    thread.join(10)
    aborted: set[str] = counts["aborted"]
    wasted = sum(1 for t in encoded if t in aborted)
    rows = [["requests sent", counts["sent"]], ["aborted by the client", len(aborted)],
            ["texts encoded", len(encoded)], ["encoded, then aborted (wasted)", wasted],
            ["aborted and never encoded (saved)", len(aborted - set(encoded))],
            ["seconds", f"{elapsed:.1f}"]]
    print(machine(), "\n")
    print(f"{args.shoppers} shoppers, a keystroke every {args.keystroke_ms:g} ms, cache off\n")
    print(markdown(["", "count"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
