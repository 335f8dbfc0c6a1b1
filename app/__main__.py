"""Serve the API: `python -m app --host 127.0.0.1 --port 8000 [--index DIR] [--encoder NAME] [--workers N]`."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from .logs import configure_logging, logging_config
from .settings import Settings

logger = logging.getLogger("app")

# prometheus_client's own variable: where each worker writes its metrics (app/metrics.py).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", help="interface to bind (AURORA_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (AURORA_PORT, default 8000)")
    parser.add_argument("--index", type=Path, help="index directory (AURORA_INDEX_PATH, default index)")
    parser.add_argument("--encoder", help="encoder the index was built with (AURORA_ENCODER)")
    parser.add_argument("--workers", type=int, help="server processes, each with its own model and index "
                                                    "(AURORA_WORKERS, default 1)")
    parser.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"],
                        help="AURORA_LOG_LEVEL, default info")
    parser.add_argument("--log-format", choices=["text", "json"], help="AURORA_LOG_FORMAT, default text")
    args = parser.parse_args(argv)
    given = {"host": args.host, "port": args.port, "index_path": args.index, "encoder": args.encoder,
             "workers": args.workers, "log_level": args.log_level, "log_format": args.log_format}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        parser.error(f"invalid settings:\n{e}")
    log_config = logging_config(settings.log_level, settings.log_format)
    configure_logging(settings.log_level, settings.log_format)
    # No access log: its lines would carry the query string, i.e. the shopper's text; the
    # service leaves its own line a request without it (app/logs.py).
    # No proxy headers read by uvicorn (it would trust 127.0.0.1's X-Forwarded-For by default):
    # AURORA_TRUSTED_PROXIES alone decides whom to believe (app/web.py).
    run: dict[str, Any] = {"host": settings.host, "port": settings.port, "workers": settings.workers,
                           "log_level": settings.log_level, "access_log": False, "log_config": log_config,
                           "proxy_headers": False}
    if settings.workers == 1:
        # Imported here, not above: each worker process imports this module again before it answers
        # the supervisor's health checks, and the app's imports take seconds.
        from .main import create_app

        uvicorn.run(create_app(settings), **run)
        return 0
    # Each worker is a fresh interpreter that builds its own app from the environment.
    os.environ.update({f"AURORA_{name.upper()}": str(value) for name, value in overrides.items()})
    with multiprocess_metrics():
        uvicorn.run("app.main:create_app", factory=True, **run)
    return 0


@contextmanager
def multiprocess_metrics() -> Iterator[None]:
    """`PROMETHEUS_MULTIPROC_DIR` for the workers to come: a new empty directory, removed when they
    have all stopped; or the operator's own, left as it is."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.glob("*.db")):
            logger.warning("%s=%s holds metrics from an earlier run, which are counted in: empty it before "
                           "starting the service", MULTIPROC_ENV, directory)
        yield
        return
    directory = Path(tempfile.mkdtemp(prefix="aurora-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    logger.info("workers' metrics in %s", directory)
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
