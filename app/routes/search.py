"""`/v1/search`: a shopper's question in, ranked FAQ entries and a decision out."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from aurora_faq.search import Engine, SearchResult

from ..deps import current_engine, current_searcher
from ..errors import ERROR_RESPONSES
from ..schemas import IndexInfo, SearchHit, SearchRequest, SearchResponse
from . import make_router

logger = logging.getLogger(__name__)

router = make_router(prefix="/v1", tags=["search"], responses=ERROR_RESPONSES)


def to_response(result: SearchResult, engine: Engine) -> SearchResponse:
    """A core `SearchResult` as the API's response (entry texts in each hit's language)."""
    return SearchResponse(
        query_id=uuid.uuid4().hex,
        query=result.query,
        lang=result.lang,
        decision=result.decision,
        results=[
            SearchHit(id=h.entry.id, question=h.entry.question[h.lang], answer=h.entry.answer[h.lang],
                      lang=h.lang, category=h.entry.category, score=h.score,
                      confidence=h.confidence, matched=h.matched, url=h.entry.url)
            for h in result.hits
        ],
        fallback=result.fallback,
        index=IndexInfo(version=engine.index.version, encoder=engine.encoder.name),
    )


async def _search(request: Request, params: SearchRequest) -> Response:
    # Validate before looking for the engine: bad input is a 422 even without an index.
    Engine.check_query(params.q, params.k, params.lang)
    searcher = current_searcher(request)
    engine = current_engine(request)
    started = time.perf_counter()
    # A repeated question is answered here, on the event loop: the hop to a worker thread and
    # back cost more than the lookup (a cached search took 0.30 ms in-process through a worker
    # thread, 0.12 ms without). Only a search that must encode goes to the threadpool.
    result = engine.cached(params.q, k=params.k, lang=params.lang, category=params.category)
    if result is None:
        result = await run_in_threadpool(searcher.search, params.q, k=params.k, lang=params.lang,
                                         category=params.category)
    response = to_response(result, engine)
    top = result.hits[0] if result.hits else None
    # The query text stays out of the log: shoppers paste order numbers and addresses.
    logger.info("search %s lang=%s decision=%s top=%s confidence=%.3f chars=%d %.1f ms",
                response.query_id, result.lang, result.decision, top.entry.id if top else None,
                top.confidence if top else 0.0, len(params.q), (time.perf_counter() - started) * 1000)
    # Serialized here: a returned model would be validated a second time by FastAPI.
    return Response(response.model_dump_json(), media_type="application/json")


@router.get("/search", response_model=SearchResponse)
async def search_get(params: Annotated[SearchRequest, Query()], request: Request) -> Response:
    """Answer a question sent in the query string (`?q=...&k=3`)."""
    return await _search(request, params)


@router.post("/search", response_model=SearchResponse)
async def search_post(params: SearchRequest, request: Request) -> Response:
    """Answer a question sent as a JSON body (`{"q": "...", "k": 3}`)."""
    return await _search(request, params)
