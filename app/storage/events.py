"""Reloads and rollbacks written down, so that every process on the database does the same."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from .models import IndexEvent, utc_now


def record(sessions: sessionmaker[Session], action: str, version: str, built_at: str, origin: str) -> int:
    """Write down that `origin` did `action` and now serves `version` (built at `built_at`).

    Returns:
        The event's id.
    """
    with sessions.begin() as session:
        event = IndexEvent(action=action, version=version, built_at=built_at, origin=origin, created_at=utc_now())
        session.add(event)
        session.flush()
        return event.id


def last_id(sessions: sessionmaker[Session]) -> int:
    """The newest event's id; 0 when there is none."""
    with sessions() as session:
        return int(session.scalar(select(func.max(IndexEvent.id))) or 0)


def after(sessions: sessionmaker[Session], event_id: int) -> list[IndexEvent]:
    """The events newer than `event_id`, oldest first."""
    with sessions() as session:
        return list(session.scalars(select(IndexEvent).where(IndexEvent.id > event_id).order_by(IndexEvent.id)))
