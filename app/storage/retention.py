"""Rows older than `Settings.retention_days` are deleted: at start-up and once a day."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from .models import Feedback, Search, utc_now


def delete_expired(sessions: sessionmaker[Session], retention_days: int, now: datetime | None = None) -> int:
    """Delete searches and feedback created more than `retention_days` before `now`.

    Args:
        sessions: the session factory.
        retention_days: how many days rows are kept.
        now: the current time (UTC); the clock when omitted.

    Returns:
        How many rows were deleted.
    """
    cutoff = (now or utc_now()) - timedelta(days=retention_days)
    with sessions.begin() as session:
        feedback = session.execute(delete(Feedback).where(Feedback.created_at < cutoff))
        searches = session.execute(delete(Search).where(Search.created_at < cutoff))
        return int(getattr(feedback, "rowcount", 0)) + int(getattr(searches, "rowcount", 0))
