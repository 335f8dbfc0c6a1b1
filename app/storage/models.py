"""The tables, as SQLAlchemy 2 typed models; `migrations/` creates them.

Types stay portable (SQLite and PostgreSQL alike): times are UTC, stored as `UTCDateTime`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from aurora_faq.faq import MAX_ID_CHARS

QUERY_ID_CHARS = 32  # uuid4().hex, as every search response carries it
MAX_COMMENT_CHARS = 1000


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime both ways; SQLite, which keeps no offset, reads back aware too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store times in UTC, e.g. utc_now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Search(Base):
    """One answered search (`/v1/search`), its text masked."""

    __tablename__ = "searches"

    query_id: Mapped[str] = mapped_column(String(QUERY_ID_CHARS), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    decision: Mapped[str] = mapped_column(String(16))
    top_ids: Mapped[list[str]] = mapped_column(JSON)
    top_confidence: Mapped[float | None] = mapped_column(Float)  # None: no hits
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    index_version: Mapped[str] = mapped_column(String(64))


class Feedback(Base):
    """A shopper's verdict on an answer; `query_id` is None for an answer picked from suggestions."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # SET NULL: retention may delete a search before feedback given on it later.
    query_id: Mapped[str | None] = mapped_column(
        String(QUERY_ID_CHARS), ForeignKey("searches.query_id", ondelete="SET NULL"), index=True)
    answer_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS))
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(String(MAX_COMMENT_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IndexEvent(Base):
    """A reload or rollback done by one process, for the others on this database to follow."""

    __tablename__ = "index_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))  # "reload" | "rollback"
    version: Mapped[str] = mapped_column(String(64))  # served after the action
    built_at: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(255))  # host:pid of the process that did it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
