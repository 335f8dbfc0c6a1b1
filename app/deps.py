"""Access to what the lifespan loaded."""

from __future__ import annotations

from fastapi import Request

from aurora_faq.errors import IndexUnavailableError
from aurora_faq.search import Engine


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
