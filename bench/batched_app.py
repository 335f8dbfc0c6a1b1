"""`python -m app` with searches micro-batched: the experiment behind the batching proposal.

    .venv/bin/python bench/batched_app.py --host 127.0.0.1 --port 8002 --index index [--no-cache-bypass]

Same arguments as `python -m app`. The engine the lifespan loads gets its `search` replaced by
`app.batching.MicroBatcher(engine).search`; nothing else changes. With the cache bypass (the
default) a query already in the engine's LRU is answered without queueing behind a batch;
the lookup used here stands in for the `Engine.cached` method proposed in bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import app.main  # noqa: E402
from app.__main__ import main  # noqa: E402
from app.batching import MicroBatcher  # noqa: E402
from aurora_faq.search import Engine, SearchResult  # noqa: E402
from aurora_faq.text import normalize  # noqa: E402


def cached(engine: Engine) -> Any:
    """A cache lookup with the key `Engine.search_many` uses (no exclusions)."""
    empty = np.zeros(0, np.int64).tobytes()

    def lookup(query: str, k: int, lang: str | None, category: str | None) -> SearchResult | None:
        hit = engine._cache_get((normalize(query), k, lang, category, empty))
        return None if hit is None else SearchResult(query, hit.lang, hit.decision, hit.hits, hit.fallback)

    return lookup


def install(bypass: bool) -> None:
    load = app.main.load_engine

    def load_batched(settings: Any) -> Engine:
        engine = load(settings)
        batcher = MicroBatcher(engine, cached=cached(engine) if bypass else None)
        engine.search = batcher.search  # type: ignore[method-assign]
        return engine

    app.main.load_engine = load_batched


if __name__ == "__main__":
    args = sys.argv[1:]
    install(bypass="--no-cache-bypass" not in args)
    sys.exit(main([a for a in args if a != "--no-cache-bypass"]))
