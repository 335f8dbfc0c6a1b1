"""`/v1/admin/feedback` and `/v1/admin/analytics`: what the shop's staff read back (admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from ..deps import current_engine, current_storage
from ..errors import ADMIN_RESPONSES, ERROR_RESPONSES
from ..security import require_admin
from ..storage.analytics import (
    MAX_FEEDBACK_PAGE,
    Analytics,
    FeedbackPage,
    build_analytics,
    decode_cursor,
    feedback_page,
)
from . import make_router

router = make_router(prefix="/v1/admin", tags=["admin"], responses={**ERROR_RESPONSES, **ADMIN_RESPONSES},
                     dependencies=[Depends(require_admin)])

MAX_CURSOR_CHARS = 200


def _invalid(name: str, value: object, message: str) -> RequestValidationError:
    """A 422 in the envelope every validation error gets, for a check FastAPI cannot make."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}])


def _utc(since: datetime | None) -> datetime | None:
    """`since` in UTC; a time without an offset is taken as UTC.

    Raises:
        RequestValidationError: the time is out of range once in UTC (year 1 with a positive offset).
    """
    if since is None:
        return None
    if since.tzinfo is None:
        return since.replace(tzinfo=UTC)
    try:
        return since.astimezone(UTC)
    except OverflowError as e:
        raise _invalid("since", since.isoformat(), "out of range in UTC") from e


@router.get("/feedback", response_model=FeedbackPage)
def export_feedback(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_FEEDBACK_PAGE, description="Most items on the page.")] = 100,
    since: Annotated[datetime | None, Query(description="Only feedback created at or after this time "
                                                        "(ISO 8601; UTC when it has no offset).")] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, pattern=r"^[A-Za-z0-9_-]+$",
                                        description="The previous page's `next`.")] = None,
) -> FeedbackPage:
    """Export stored feedback, oldest first, a page at a time.

    Start without `cursor`; while a page's `next` is not null, ask again with `cursor=<next>` (and
    the same `since`). Pages follow (`created_at`, `id`) order, so every row comes exactly once
    even when many share a timestamp; rows stored meanwhile come on later pages.
    """
    position = None
    if cursor is not None:
        try:
            position = decode_cursor(cursor)
        except ValueError as e:
            raise _invalid("cursor", cursor, str(e)) from e
    return feedback_page(current_storage(request).sessions, limit=limit, since=_utc(since), cursor=position)


@router.get("/analytics", response_model=Analytics)
def analytics(
    request: Request,
    days: Annotated[int, Query(ge=1, le=365, description="UTC days to cover, today the last.")] = 30,
    min_shoppers: Annotated[int, Query(ge=1, le=10_000, description="Fewest searches in an unanswered group "
                                                                     "to propose a new entry for it.")] = 3,
) -> Analytics:
    """Figures on the last days' searches and feedback, with suggestions for the FAQ.

    Answer, clarify and no-answer rates by day and language; helpful rates by entry; entries
    never the answer; the most asked queries; unanswered ones grouped by meaning.

    Unanswered searches are grouped by meaning with the index's encoder (a few seconds at most:
    only the most asked phrasings are grouped). Suggestions are data/faq.jsonl lines to paste;
    nothing is applied.
    """
    engine = current_engine(request)
    return build_analytics(current_storage(request).sessions, engine, days=days, min_shoppers=min_shoppers)
