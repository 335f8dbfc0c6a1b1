"""Access to what the lifespan loaded."""

from __future__ import annotations

import threading
from typing import Protocol

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from aurora_faq.engine import Engine, SearchResult
from aurora_faq.errors import IndexUnavailableError
from aurora_faq.query import Query
from aurora_faq.suggest import Suggester

from .batching import MicroBatcher, SearchAbandoned
from .storage.service import Storage


class Searcher(Protocol):
    """What answers a search: the micro-batcher, or the engine itself when batching is off.

    `abandoned` is set when the client goes away; a search that has not started by then is
    dropped (`app.batching.SearchAbandoned`).
    """

    def __call__(self, query: Query, abandoned: threading.Event) -> SearchResult: ...


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
            raise IndexUnavailableError(None, "the index is not loaded yet; the service is starting")
        # A fresh exception each time: re-raising one instance would grow its traceback forever.
        raise IndexUnavailableError(error.path, str(error))
    return engine


def current_searcher(request: Request) -> Searcher:
    """The micro-batcher's search when the service batches searches (the default), else the engine's.

    Raises:
        IndexUnavailableError: as `current_engine`.
    """
    engine = current_engine(request)
    batcher: MicroBatcher | None = request.app.state.batcher
    if batcher is not None:
        return batcher.search

    def search(query: Query, abandoned: threading.Event) -> SearchResult:
        if abandoned.is_set():
            raise SearchAbandoned
        return engine.search(query)

    return search


def current_suggester(request: Request) -> Suggester:
    """The suggester the lifespan built from the loaded index.

    Raises:
        IndexUnavailableError: as `current_engine`, or the suggester is not built yet.
    """
    suggester: Suggester | None = request.app.state.suggester
    if suggester is None:
        current_engine(request)  # the index's own error when it could not be loaded
        raise IndexUnavailableError(None, "suggestions are not ready yet; the service is starting")
    return suggester


def current_storage(request: Request) -> Storage:
    """The open storage.

    Raises:
        StarletteHTTPException: 503, the service runs without storage (its start-up log says why).
    """
    storage: Storage | None = request.app.state.storage
    if storage is None:
        raise StarletteHTTPException(503, "feedback is off: the service has no storage (see its log)")
    return storage
