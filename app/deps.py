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

from .serving import Served
from .storage.service import Storage


class Searcher(Protocol):
    """What answers a search: the micro-batcher, or the engine itself when batching is off.

    `abandoned` is set when the client goes away; a search that has not started by then is
    dropped (`app.batching.SearchAbandoned`).
    """

    def __call__(self, query: Query, abandoned: threading.Event) -> SearchResult: ...


def current_served(request: Request) -> Served:
    """What serves now: the loaded engine, its micro-batcher and its suggester. A request keeps
    the one it got, so that a reload meanwhile does not mix two indexes in one answer.

    Called inside endpoints rather than as a dependency so that a bad request is told it is
    bad (422) even while the service has no index (503).

    Raises:
        IndexUnavailableError: the lifespan could not load an index; same message as logged.
    """
    served: Served | None = request.app.state.serving.current
    if served is None:
        error: IndexUnavailableError | None = request.app.state.index_error
        if error is None:
            raise IndexUnavailableError(None, "the index is not loaded yet; the service is starting")
        # A fresh exception each time: re-raising one instance would grow its traceback forever.
        raise IndexUnavailableError(error.path, str(error))
    return served


def current_engine(request: Request) -> Engine:
    """The served engine.

    Raises:
        IndexUnavailableError: as `current_served`.
    """
    return current_served(request).engine


def current_suggester(request: Request) -> Suggester:
    """The suggester built from the served index.

    Raises:
        IndexUnavailableError: as `current_served`.
    """
    return current_served(request).suggester


def current_storage(request: Request) -> Storage:
    """The open storage.

    Raises:
        StarletteHTTPException: 503, the service runs without storage (its start-up log says why).
    """
    storage: Storage | None = request.app.state.storage
    if storage is None:
        raise StarletteHTTPException(503, "storage is off: no database, so no feedback or analytics (see the log)")
    return storage
