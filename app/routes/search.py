"""`/v1/search`: a shopper's question in, ranked FAQ entries and a decision out."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Annotated

import fastapi
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from aurora_faq.engine import Engine, SearchResult
from aurora_faq.query import Query

from ..batching import SearchAbandoned
from ..deps import Searcher, current_served
from ..errors import ERROR_RESPONSES
from ..metrics import observe_search
from ..schemas import IndexInfo, SearchHit, SearchRequest, SearchResponse
from ..storage.search_log import SearchRecord, new_query_id
from ..storage.service import Storage
from . import make_router

logger = logging.getLogger(__name__)

router = make_router(prefix="/v1", tags=["search"], responses=ERROR_RESPONSES)


def to_response(result: SearchResult, engine: Engine) -> SearchResponse:
    """A core `SearchResult` as the API's response (entry texts in each hit's language)."""
    return SearchResponse(
        query_id=new_query_id(),
        query=result.query,
        lang=result.lang,
        decision=result.decision.value,
        results=[
            SearchHit(id=h.entry.id, question=h.entry.question[h.lang], answer=h.entry.answer[h.lang],
                      lang=h.lang, category=h.entry.category, score=h.score,
                      confidence=h.confidence, matched=h.matched, url=h.entry.url)
            for h in result.hits
        ],
        fallback=result.fallback,
        index=IndexInfo(version=engine.index.version, encoder=engine.encoder.name),
    )


async def _disconnected(request: Request) -> None:
    """Return once the client has closed the connection (the request's body is already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _search_while_connected(request: Request, search: Searcher, query: Query) -> SearchResult:
    """`search(query)` in the threadpool; if the client goes away first, the search is dropped
    unless it has started (a typing shopper's widget aborts the previous keystroke's request).

    Raises:
        SearchAbandoned: the client went away before the search started.
    """
    abandoned = threading.Event()
    task = asyncio.ensure_future(run_in_threadpool(search, query, abandoned))
    watch = asyncio.ensure_future(_disconnected(request))
    await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        abandoned.set()
    watch.cancel()
    return await task


async def _search(request: Request, params: SearchRequest) -> Response:
    # Validated before looking for the engine: bad input is a 422 even without an index.
    query = params.to_query()
    served = current_served(request)  # kept to the end: a reload meanwhile does not change this answer
    engine = served.engine
    started = time.perf_counter()
    # A repeated question is answered here, on the event loop: the hop to a worker thread and
    # back costs more than the lookup. Only a search that must encode goes to the threadpool.
    result = engine.cached(query)
    if result is None:
        try:
            result = await _search_while_connected(request, served.search, query)
        except SearchAbandoned:
            logger.info("search abandoned by its client before it started")
            return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    response = to_response(result, engine)
    record = SearchRecord(
        query_id=response.query_id, query=query.text, lang=result.lang, decision=result.decision.value,
        top_ids=[hit.entry.id for hit in result.hits],
        top_confidence=result.hits[0].confidence if result.hits else None,
        latency_ms=(time.perf_counter() - started) * 1000, index_version=engine.index.version)
    storage: Storage | None = request.app.state.storage
    if storage is not None and request.app.state.settings.search_log:
        # Queued before the response leaves (an append; masked and written on the log's thread),
        # so that feedback sent the moment the answer arrives finds its search.
        storage.log.add(record)
    # The request's log line (app/logs.py) carries these; never the query text: shoppers paste
    # order numbers and addresses.
    request.state.log_fields = {"query_id": record.query_id, "lang": record.lang, "decision": record.decision,
                                "top": record.top_ids[0] if record.top_ids else None,
                                "confidence": record.top_confidence, "chars": len(record.query)}
    observe_search(record.decision, record.lang)
    # Serialized here: a returned model would be validated a second time by FastAPI.
    return Response(response.model_dump_json(), media_type="application/json")


@router.get("/search", response_model=SearchResponse)
async def search_get(params: Annotated[SearchRequest, fastapi.Query()], request: Request) -> Response:
    """Answer a question sent in the query string (`?q=...&k=3`)."""
    return await _search(request, params)


@router.post("/search", response_model=SearchResponse)
async def search_post(params: SearchRequest, request: Request) -> Response:
    """Answer a question sent as a JSON body (`{"q": "...", "k": 3}`)."""
    return await _search(request, params)
