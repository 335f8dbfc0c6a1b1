"""`python -m app` as a real server process on a free loopback port, for tests that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This process's environment without AURORA_* settings: the service runs on its defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def serve(index: Path, log_dir: Path, *, encoder: str = "fake", env: Mapping[str, str] | None = None,
          args: Sequence[str] = (), timeout_s: float = 120) -> Iterator[Server]:
    """Serve `index`; yields once /readyz is 200. Its database is in `log_dir` unless `env` names one.

    Output goes to `log_dir/service-<port>.log`; the process is stopped (SIGTERM, then SIGKILL) at exit.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port), "--index", str(index),
            "--encoder", encoder, *args]
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"service-{port}.log"
    with open(log, "wb") as out:
        full_env = {**clean_env(), "AURORA_DATA_DIR": str(log_dir / "data"), **(env or {})}
        process = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    with supervised(process, lambda: ready(base), log, "the service", timeout_s):
        yield Server(base, process, log)


@contextmanager
def supervised(process: subprocess.Popen[bytes], is_ready: Callable[[], bool], log: Path, what: str,
               timeout_s: float) -> Iterator[None]:
    """Wait until `is_ready()` (failing with the tail of `log` if `process` exits or time runs
    out), then stop `process` at exit: SIGTERM, then SIGKILL."""
    try:
        deadline = time.monotonic() + timeout_s
        while not is_ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
