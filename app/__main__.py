"""Serve the API: `python -m app --host 127.0.0.1 --port 8000 [--index DIR] [--encoder NAME]`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from .main import create_app
from .settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", help="interface to bind (AURORA_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (AURORA_PORT, default 8000)")
    parser.add_argument("--index", type=Path, help="index directory (AURORA_INDEX_PATH, default index)")
    parser.add_argument("--encoder", help="encoder the index was built with (AURORA_ENCODER)")
    parser.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"],
                        help="AURORA_LOG_LEVEL, default info")
    args = parser.parse_args(argv)
    given = {"host": args.host, "port": args.port, "index_path": args.index, "encoder": args.encoder,
             "log_level": args.log_level}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        parser.error(f"invalid settings:\n{e}")
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One worker: each would load its own copy of the model and index. No access log: its
    # lines would carry the query string, i.e. the shopper's text (the search route logs each
    # search without it), and cost a formatted line per request.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
