"""`/v1/search`: a shopper's question in, ranked FAQ entries and a decision out."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from aurora_faq.search import Engine, SearchResult

from ..deps import current_engine, current_searcher
from ..errors import ERROR_RESPONSES
from ..schemas import IndexInfo, SearchHit, SearchRequest, SearchResponse
from . import DocstringRoute, make_router

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


class SearchQueryRoute(DocstringRoute):
    """The GET search route: its query string is validated by `SearchRequest` directly.

    FastAPI documents the route from `search_get`'s signature as usual, but at run time this
    handler validates the query string with the model and calls the endpoint with it, skipping
    FastAPI's per-request dependency solving: from the ASGI call to the route took 0.29-0.31 ms
    (p50) of a first-time search at concurrency 1 with it, 0.18-0.20 without
    (bench/c1_trace.py). Errors come out as FastAPI's would (`RequestValidationError`, located
    in "query"), so the same handler words them.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            try:
                params = SearchRequest.model_validate(dict(request.query_params))
            except ValidationError as e:
                errors = [{**err, "loc": ("query", *err["loc"])} for err in e.errors(include_url=False)]
                raise RequestValidationError(errors) from None
            response: Response = await endpoint(params=params, request=request)
            return response

        return handler


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
    # The query text stays out of the log: shoppers paste order numbers and addresses. Logged
    # once the response is sent: the line cost ~0.1 ms before it at concurrency 1.
    log = BackgroundTask(logger.info, "search %s lang=%s decision=%s top=%s confidence=%.3f chars=%d %.1f ms",
                         response.query_id, result.lang, result.decision, top.entry.id if top else None,
                         top.confidence if top else 0.0, len(params.q), (time.perf_counter() - started) * 1000)
    # Serialized here: a returned model would be validated a second time by FastAPI.
    return Response(response.model_dump_json(), media_type="application/json", background=log)


async def search_get(params: Annotated[SearchRequest, Query()], request: Request) -> Response:
    """Answer a question sent in the query string (`?q=...&k=3`)."""
    return await _search(request, params)


router.add_api_route("/search", search_get, methods=["GET"], response_model=SearchResponse,
                     route_class_override=SearchQueryRoute)


@router.post("/search", response_model=SearchResponse)
async def search_post(params: SearchRequest, request: Request) -> Response:
    """Answer a question sent as a JSON body (`{"q": "...", "k": 3}`)."""
    return await _search(request, params)
