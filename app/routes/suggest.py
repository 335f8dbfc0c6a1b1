"""`/v1/suggest`: the text typed so far in, the FAQ questions it may be the start of out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query, Request, Response

from ..deps import current_suggester
from ..errors import ERROR_RESPONSES
from ..schemas import SuggestionOut, SuggestRequest, SuggestResponse
from . import make_router

router = make_router(prefix="/v1", tags=["suggest"], responses=ERROR_RESPONSES)


# `async def`: a suggestion takes tens of microseconds, less than the hop to a worker thread and
# back that a plain `def` would cost; nothing in it blocks.
@router.get("/suggest", response_model=SuggestResponse)
async def suggest(params: Annotated[SuggestRequest, Query()], request: Request) -> Response:
    """Suggest FAQ questions for what the shopper has typed so far."""
    started = time.perf_counter()
    query = params.to_query()  # validated before the index is asked for: bad input is a 422 even without one
    # Romaji typed with the IME off is matched by its kana reading, as a search is.
    found = current_suggester(request).suggest(query.reading or query.text, k=params.k, lang=query.lang)
    body = SuggestResponse(
        query=query.text,
        lang=query.lang,
        suggestions=[SuggestionOut(id=s.id, question=s.question, lang=s.lang, category=s.category) for s in found],
    ).model_dump_json()  # serialized here: a returned model would be validated a second time
    elapsed = (time.perf_counter() - started) * 1000
    return Response(body, media_type="application/json", headers={"Server-Timing": f"suggest;dur={elapsed:.3f}"})
