"""Access to what the lifespan loaded."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request

from aurora_faq.errors import IndexUnavailableError
from aurora_faq.search import Engine, SearchResult


class Searcher(Protocol):
    """What answers a search: the engine itself, or the micro-batcher in front of it."""

    def search(self, query: str, k: int = 3, lang: str | None = None,
               category: str | None = None) -> SearchResult: ...


def current_engine(request: Request) -> Engine:
    """The loaded engine.

    Called inside endpoints rather than as a dependency so that a bad request is told it is
    bad (422) even while the service has no index (503).

    Raises:
        IndexUnavailableError: the lifespan could not load an index; same message as logged.
    """
    engine: Engine | None = request.app.state.engine
    if engine is None:
        error: IndexUnavailableError | None = request.app.state.index_error
        if error is None:
            raise IndexUnavailableError("the index is not loaded yet; the service is starting")
        # A fresh exception each time: re-raising one instance would grow its traceback forever.
        raise type(error)(*error.args)
    return engine


def current_searcher(request: Request) -> Searcher:
    """The micro-batcher when the service batches searches (the default), else the engine.

    Raises:
        IndexUnavailableError: as `current_engine`.
    """
    engine = current_engine(request)
    searcher: Searcher | None = request.app.state.batcher
    return engine if searcher is None else searcher
