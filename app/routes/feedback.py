"""`/v1/feedback`: a shopper's verdict on an answer, stored with its comment masked."""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from aurora_faq.errors import EntryNotFoundError
from aurora_faq.masking import mask

from ..deps import current_engine, current_storage
from ..errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE
from ..schemas import FeedbackCreated, FeedbackRequest
from ..storage.models import MAX_COMMENT_CHARS, Feedback, Search, utc_now
from . import make_router

router = make_router(prefix="/v1", tags=["feedback"], responses=ERROR_RESPONSES)

FLUSH_TIMEOUT_SECONDS = 2.0


@router.post("/feedback", status_code=201, response_model=FeedbackCreated, responses=NOT_FOUND_RESPONSE)
def post_feedback(body: FeedbackRequest, request: Request) -> FeedbackCreated:
    """Record whether an answer helped, for a search (`query_id`) or an answer picked from suggestions."""
    engine = current_engine(request)
    if body.answer_id not in engine.index.by_id:
        raise EntryNotFoundError(body.answer_id)
    storage = current_storage(request)
    # With the search log off there is no search to link to: the verdict is kept on its own.
    query_id = body.query_id if request.app.state.settings.search_log else None
    if query_id is not None:
        # The search may still be queued in the log; written first, it is found. Before the
        # transaction below, which holds SQLite's write lock the log needs.
        storage.log.flush(FLUSH_TIMEOUT_SECONDS)
    with storage.sessions.begin() as session:
        if query_id is not None and session.get(Search, query_id) is None:
            raise StarletteHTTPException(404, f"no search with query_id {query_id!r}")
        feedback = Feedback(query_id=query_id, answer_id=body.answer_id, helpful=body.helpful,
                            comment=None if body.comment is None else mask(body.comment)[:MAX_COMMENT_CHARS],
                            created_at=utc_now())
        session.add(feedback)
        session.flush()
        return FeedbackCreated(id=feedback.id)
