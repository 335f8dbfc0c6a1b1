"""Closed-loop load on loopback: `concurrency` clients, each sending its next request as soon as
the previous one is answered, until a fixed list of requests is used up (aiohttp).

aiohttp, not httpx: the client shares the two cores with the server and, at concurrency 1,
its own work per request lands in every latency measured. httpx's AsyncClient spent 1.7-2.2 ms
of CPU a request here, aiohttp 0.4 ms (bench/README.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import numpy as np

from .servers import RequestFn
from .workload import Request


@dataclass
class Run:
    """What one batch of requests measured; latencies in seconds, aligned with the mix."""

    latencies: np.ndarray
    repeat: np.ndarray  # bool: the request repeated an earlier one of its mix
    wall_s: float
    errors: int
    cpu_s: float = 0.0  # server (or encoder) CPU seconds spent during the run
    client_cpu_s: float = 0.0

    @property
    def n(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.n / self.wall_s if self.wall_s else 0.0

    def merged(self, other: Run) -> Run:
        """Both runs pooled, as if sent one after the other."""
        return Run(np.concatenate([self.latencies, other.latencies]), np.concatenate([self.repeat, other.repeat]),
                   self.wall_s + other.wall_s, self.errors + other.errors, self.cpu_s + other.cpu_s,
                   self.client_cpu_s + other.client_cpu_s)

    def pct(self, q: float, which: str = "all") -> float:
        """Percentile `q` in ms, over all requests, `fresh` ones or `repeat` ones."""
        lat = self.latencies if which == "all" else self.latencies[self.repeat == (which == "repeat")]
        return float(np.percentile(lat, q) * 1000) if len(lat) else float("nan")


async def _drive(session: aiohttp.ClientSession, request: RequestFn, texts: Sequence[str],
                 concurrency: int) -> tuple[np.ndarray, int, float]:
    lat = np.zeros(len(texts))
    errors = 0
    queue = iter(enumerate(texts))  # shared by the workers: one event loop, no lock needed

    async def worker() -> None:
        nonlocal errors
        for i, text in queue:
            path, params = request(text)
            t = time.perf_counter()
            try:
                async with session.get(path, params=params) as r:
                    await r.read()
                    ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            lat[i] = time.perf_counter() - t
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, errors, time.perf_counter() - started


def run_load(base_url: str, request: RequestFn, mix: Sequence[Request], concurrency: int,
             warmup: Sequence[str], cpu_probe: Callable[[], float]) -> Run:
    """Warm the connections with `warmup` (not timed), then send `mix` and time it.

    Args:
        cpu_probe: CPU seconds of the server so far; read before and after the timed part.
    """

    async def main() -> Run:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(base_url, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=120)) as session:
            await _drive(session, request, list(warmup) * max(1, concurrency // len(warmup) + 1),
                         concurrency)
            cpu0, client0 = cpu_probe(), time.process_time()
            lat, errors, wall = await _drive(session, request, [r.text for r in mix], concurrency)
            cpu1, client1 = cpu_probe(), time.process_time()
        return Run(lat, np.array([r.repeat for r in mix]), wall, errors, cpu1 - cpu0, client1 - client0)

    return asyncio.run(main())
