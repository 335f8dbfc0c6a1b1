"""Servers under test: each runs as a subprocess on 127.0.0.1, on a free port of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import procstat

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

# (query text) -> (path, query parameters) of one search request
RequestFn = Callable[[str], tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class Target:
    """How to start one server and ask it one question."""

    name: str
    argv: list[str]  # "{port}" is replaced by the chosen port
    request: RequestFn
    ready_path: str  # the first 200 here ends start-up
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    cwd: Path = REPO  # where it starts: `python -m app` runs the `app` found there


@dataclass
class Server:
    target: Target
    pid: int
    base_url: str
    startup_s: float
    serving_rss_mb: float = 0.0


def clean_env() -> dict[str, str]:
    """This process's environment without AURORA_* settings, so every server configures the same."""
    # AURORA_DATA_DIR is kept: where the servers' databases go is no setting that is measured.
    return {k: v for k, v in os.environ.items() if not k.startswith("AURORA_") or k == "AURORA_DATA_DIR"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message ends with its log."""


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def serve(target: Target, log_path: Path, env: dict[str, str], timeout_s: float = 180) -> Iterator[Server]:
    """Start `target`, wait for its first 200 on `ready_path`, yield it, then stop it.

    Start-up is timed from just before the process is spawned to that first 200.
    """
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in target.argv]
    base = f"http://{HOST}:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=target.cwd, stdout=log, stderr=subprocess.STDOUT,
                                env={**env, **target.env})
        try:
            startup = _wait_ready(proc, base + target.ready_path, started, timeout_s, log_path)
            yield Server(target, proc.pid, base, startup)
        finally:
            proc.terminate()
            stop(proc, 15)


def stop(proc: subprocess.Popen[Any], timeout_s: float) -> None:
    """Wait up to `timeout_s` for `proc`, already asked to end, then kill it."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, started: float, timeout_s: float,
                log_path: Path) -> float:
    with httpx.Client(timeout=30) as client:
        while True:
            if proc.poll() is not None:
                raise ServerFailed(f"{proc.args!r} exited with {proc.returncode}:\n{_log_tail(log_path)}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > timeout_s:
                raise ServerFailed(f"{proc.args!r} not ready after {timeout_s:.0f} s:\n{_log_tail(log_path)}")
            time.sleep(0.01)


def memory(server: Server) -> dict[str, float]:
    return procstat.memory_mb(server.pid)


# -- the targets ------------------------------------------------------------------------------

# A load test asks from one address far more than a shopper's limit lets through; the limiter's
# own cost is measured on its own (tests/test_security.py's note, README).
UNLIMITED = {"rate_limit_search": "", "rate_limit_suggest": "", "rate_limit_feedback": ""}  # Settings fields
NO_RATE_LIMITS = {f"AURORA_{name.upper()}": value for name, value in UNLIMITED.items()}  # the same, as variables


def aurora(index: Path, encoder: str, python: str = sys.executable) -> Target:
    """This service, its full pipeline, as shipped: `python -m app` (searches micro-batched), rate
    limits off."""
    return Target(
        name="aurora",
        argv=[python, "-m", "app", "--host", HOST, "--port", "{port}", "--index", str(index),
              "--encoder", encoder],
        request=lambda q: ("/v1/search", {"q": q, "k": "3"}),
        ready_path="/readyz",
        env=NO_RATE_LIMITS,
        note="python -m app (hybrid dense+BM25, calibration, LRU cache, micro-batching)",
    )


def aurora_unbatched(index: Path, encoder: str, python: str = sys.executable) -> Target:
    """The same with micro-batching turned off (AURORA_BATCH_MAX=1): one encoder call a request."""
    base = aurora(index, encoder, python)
    return Target(
        name="aurora-nobatch",
        argv=base.argv,
        request=base.request,
        ready_path="/readyz",
        env={**base.env, "AURORA_BATCH_MAX": "1"},
        note="the same, AURORA_BATCH_MAX=1: no micro-batching",
    )


def naive(faq: Path, encoder: str, python: str = sys.executable) -> Target:
    """The afternoon app: FastAPI + encoder + flat FAISS (bench/naive_app.py)."""
    return Target(
        name="naive",
        argv=[python, str(REPO / "bench" / "naive_app.py"), "--faq", str(faq), "--encoder", encoder,
              "--host", HOST, "--port", "{port}"],
        request=lambda q: ("/search", {"q": q, "k": "3"}),
        ready_path="/readyz",
        note="FastAPI + encoder + FAISS flat; embeds the FAQ at start-up",
    )


def txtai(config: Path, python: Path, env: dict[str, str]) -> Target:
    """txtai's own API app over an index built by bench/txtai_peer.py."""
    return Target(
        name="txtai",
        argv=[str(python), "-m", "uvicorn", "txtai.api:app", "--host", HOST, "--port", "{port}"],
        request=lambda q: ("/search", {"query": q, "limit": "3"}),
        # txtai has no readiness route and loads the encoder on the first search: a search
        # answering 200 is the first moment it can serve a shopper.
        ready_path="/search?query=ready&limit=1",
        env={**env, "CONFIG": str(config)},
        note="txtai 9.14 API (uvicorn txtai.api:app), external transform = our encoder",
    )
