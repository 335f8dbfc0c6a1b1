"""`/v1/admin/feedback` and `/v1/admin/analytics`: what the shop's staff read back (admin key)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator

from ..deps import current_engine, current_storage
from ..errors import ADMIN_RESPONSES, ERROR_RESPONSES
from ..security import require_admin
from ..storage.analytics import MAX_FEEDBACK_PAGE, Analytics, FeedbackPage, build_analytics, feedback_page
from . import make_router

router = make_router(prefix="/v1/admin", tags=["admin"], responses={**ERROR_RESPONSES, **ADMIN_RESPONSES},
                     dependencies=[Depends(require_admin)])

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def _iso_8601(value: object) -> object:
    # Pydantic would read a bare number as a Unix time; the schema promises an ISO 8601 string.
    if isinstance(value, str) and not _DATE.match(value):
        raise ValueError("write an ISO 8601 time, e.g. 2026-12-01 or 2026-12-01T09:00:00+09:00")
    return value


@router.get("/feedback", response_model=FeedbackPage)
def export_feedback(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_FEEDBACK_PAGE, description="Most items on the page.")] = 100,
    since: Annotated[datetime | None, BeforeValidator(_iso_8601),
                     Query(description="Only feedback created at or after this time "
                                       "(ISO 8601; UTC when it has no offset).")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="The previous page's `next`.")] = None,
) -> FeedbackPage:
    """Export stored feedback, oldest first, a page at a time.

    Start without `after`; while a page's `next` is not null, ask again with `after=<next>` (and
    the same `since`). Pages follow the order feedback was stored in, so every row comes exactly
    once however many share a timestamp; rows stored meanwhile come on later pages.
    """
    return feedback_page(current_storage(request).sessions, limit=limit, since=_utc(since), after=after)


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
