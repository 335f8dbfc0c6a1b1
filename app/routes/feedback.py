"""`/v1/feedback`: a shopper's verdict on an answer, stored with its comment masked."""

from __future__ import annotations

import time

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aurora_faq.errors import EntryNotFoundError
from aurora_faq.masking import mask

from ..deps import current_engine, current_storage
from ..errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE
from ..metrics import observe_feedback
from ..schemas import FeedbackCreated, FeedbackRequest
from ..storage.models import MAX_COMMENT_CHARS, Feedback, Search, utc_now
from ..storage.search_log import written_by
from ..storage.service import Storage
from . import make_router

router = make_router(prefix="/v1", tags=["feedback"], responses=ERROR_RESPONSES)

FLUSH_TIMEOUT_SECONDS = 2.0
POLL_SECONDS = 0.05


def _stored(storage: Storage, query_id: str) -> bool:
    """Whether the search `query_id` is in the database, waiting for it while it may still be on
    its way: in this process's search log (flushed now) or, made moments ago by another worker
    or replica, in theirs (polled until `written_by`)."""
    storage.log.flush(FLUSH_TIMEOUT_SECONDS)
    deadline = written_by(query_id)
    while True:
        with storage.sessions() as session:
            if session.get(Search, query_id) is not None:
                return True
        if time.time() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


@router.post("/feedback", status_code=201, response_model=FeedbackCreated, responses=NOT_FOUND_RESPONSE)
def post_feedback(body: FeedbackRequest, request: Request) -> FeedbackCreated:
    """Record whether an answer helped, for a search (`query_id`) or an answer picked from suggestions."""
    engine = current_engine(request)
    if body.answer_id not in engine.index.by_id:
        raise EntryNotFoundError(body.answer_id)
    storage = current_storage(request)
    # With the search log off there is no search to link to: the verdict is kept on its own.
    query_id = body.query_id if request.app.state.settings.search_log else None
    if query_id is not None and not _stored(storage, query_id):
        raise StarletteHTTPException(404, f"no search with query_id {query_id!r}")
    try:
        with storage.sessions.begin() as session:
            feedback = Feedback(query_id=query_id, answer_id=body.answer_id, helpful=body.helpful,
                                comment=None if body.comment is None else mask(body.comment)[:MAX_COMMENT_CHARS],
                                created_at=utc_now())
            session.add(feedback)
            session.flush()
            created = FeedbackCreated(id=feedback.id)
    except IntegrityError as e:  # the search deleted (retention) since it was found
        raise StarletteHTTPException(404, f"no search with query_id {query_id!r}") from e
    observe_feedback(body.helpful)  # once committed
    return created
