"""Closed-loop load on loopback: `concurrency` clients, each sending its next request as soon as
the previous one is answered, until a fixed list of requests is used up.

aiohttp, not httpx: the client shares the two cores with the server and, at concurrency 1,
its own work per request lands in every latency measured. httpx's AsyncClient spent 1.7-2.2 ms
of CPU a request here, aiohttp 0.4 ms (bench/README.md). At concurrency 1, h2load (nghttp2's
load generator, in C; Debian's `nghttp2-client`) does the same for less when it is installed:
one client sends the mix in order and logs each request's time, so first-time and repeated
questions can still be told apart. Above 1 it cannot keep the mix: each of its clients would
send the whole list from the start.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

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
            if warmup:
                await _drive(session, request, list(warmup) * max(1, concurrency // len(warmup) + 1),
                             concurrency)
            cpu0, client0 = cpu_probe(), time.process_time()
            lat, errors, wall = await _drive(session, request, [r.text for r in mix], concurrency)
            cpu1, client1 = cpu_probe(), time.process_time()
        return Run(lat, np.array([r.repeat for r in mix]), wall, errors, cpu1 - cpu0, client1 - client0)

    return asyncio.run(main())


def h2load_available() -> bool:
    return shutil.which("h2load") is not None


def run_load_h2load(base_url: str, request: RequestFn, mix: Sequence[Request], warmup: Sequence[str],
                    cpu_probe: Callable[[], float]) -> Run:
    """`run_load` at concurrency 1 with h2load as the client: `warmup` (not timed), then `mix` in
    order on one kept-alive HTTP/1.1 connection, each request's time read from h2load's log."""
    with tempfile.TemporaryDirectory() as tmp:
        if warmup:
            _h2load(base_url, request, warmup, Path(tmp))
        cpu0, client0 = cpu_probe(), _children_cpu()
        rows = _h2load(base_url, request, [r.text for r in mix], Path(tmp))
        cpu1, client1 = cpu_probe(), _children_cpu()
    # One client, one request at a time: the log's order is the order sent.
    start_us = np.array([int(r[0]) for r in rows], np.int64)
    lat = np.array([int(r[2]) for r in rows], np.float64) / 1e6
    errors = sum(r[1] != "200" for r in rows)
    # From the first request's start to the last one's end: h2load's own start-up and
    # connecting are not the server's time.
    wall = float((start_us[-1] - start_us[0]) / 1e6 + lat[-1])
    return Run(lat, np.array([r.repeat for r in mix]), wall, errors, cpu1 - cpu0, client1 - client0)


def _h2load(base_url: str, request: RequestFn, texts: Sequence[str], tmp: Path) -> list[list[str]]:
    """h2load's log rows (start µs, status, µs to the end of the response), one per text, in order."""
    uris, log = tmp / "uris.txt", tmp / "requests.tsv"
    uris.write_text("".join(f"{base_url}{path}?{urlencode(params)}\n" for path, params in map(request, texts)),
                    encoding="utf-8")
    log.unlink(missing_ok=True)
    done = subprocess.run(["h2load", "--h1", "-c", "1", "-m", "1", "-n", str(len(texts)), "-i", str(uris),
                           f"--log-file={log}"], capture_output=True, text=True, timeout=600)
    rows = [line.split("\t") for line in log.read_text().splitlines()] if log.exists() else []
    if done.returncode != 0 or len(rows) != len(texts):
        raise RuntimeError(f"h2load logged {len(rows)} of {len(texts)} requests (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-500:]}")
    return rows


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (h2load's, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
