"""`SearchLog`: searches written to the database on a background thread, in batches.

A search hands its record over (`add`, never blocking) and is answered; the thread writes
what has queued every `FLUSH_SECONDS` or `BATCH_SIZE` records, one transaction a batch. The
queue is bounded: when the database falls behind, the oldest records are dropped and counted.
A database error drops the batch it hit, logged; searches never wait for or fail on storage.
The same thread deletes expired rows once a day (`retention`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from aurora_faq.masking import mask

from .models import Search, utc_now
from .retention import delete_expired

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
BATCH_SIZE = 100
MAX_QUEUED = 10_000
RETENTION_EVERY_SECONDS = 24 * 3600


# A search's query_id: its time in milliseconds (12 hex digits), then 80 random bits. Feedback
# on it can tell how long ago it was made, so how long another process may still be holding it
# in its log unwritten (`written_by`).
_MS_DIGITS = 12
# A search made elsewhere is in the database by this long after it: the other process's flush
# interval, its write, and some clock difference between machines.
WRITTEN_WITHIN_SECONDS = FLUSH_SECONDS + 1.0


def new_query_id() -> str:
    """A fresh query_id (32 hex digits, time-ordered)."""
    return f"{time.time_ns() // 1_000_000:0{_MS_DIGITS}x}{secrets.token_hex(10)}"


def written_by(query_id: str) -> float:
    """The wall-clock time by which the search `query_id` names is written, wherever it was made;
    0 for an id that is not one of ours or names a time to come (then it is not waited for)."""
    try:
        made = int(query_id[:_MS_DIGITS], 16) / 1000
    except ValueError:
        return 0.0
    return made + WRITTEN_WITHIN_SECONDS if made <= time.time() + 1.0 else 0.0


@dataclass(frozen=True)
class SearchRecord:
    """What is kept of one search; `query` is the text as sent (masked when written)."""

    query_id: str
    query: str
    lang: str
    decision: str
    top_ids: list[str]
    top_confidence: float | None
    latency_ms: float
    index_version: str
    created_at: datetime = field(default_factory=utc_now)

    def to_values(self) -> dict[str, object]:
        """The row's columns, the query masked."""
        return {"query_id": self.query_id, "query": mask(self.query), "lang": self.lang, "decision": self.decision,
                "top_ids": self.top_ids, "top_confidence": self.top_confidence, "latency_ms": self.latency_ms,
                "created_at": self.created_at, "index_version": self.index_version}

    def to_row(self) -> Search:
        return Search(**self.to_values())


class SearchLog:
    """Batches `SearchRecord`s into the database from one background thread.

    Args:
        sessions: the session factory.
        retention_days: rows older than this are deleted once a day; None: never.
        flush_seconds, batch_size, max_queued: when a batch is written, and the queue's bound.
    """

    def __init__(self, sessions: sessionmaker[Session], retention_days: int | None = None, *,
                 flush_seconds: float = FLUSH_SECONDS, batch_size: int = BATCH_SIZE,
                 max_queued: int = MAX_QUEUED) -> None:
        self._sessions = sessions
        self._retention_days = retention_days
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._max_queued = max_queued
        self._queue: deque[SearchRecord] = deque()
        self._cond = threading.Condition()
        self._added = 0  # records ever added
        self._settled = 0  # records ever written, or given up on (dropped, failed)
        self._flushing = False
        self._stopping = False
        self.dropped = 0  # oldest records pushed out of a full queue
        self.failed = 0  # records lost to database errors
        self.written = 0
        self._next_retention = time.monotonic() + RETENTION_EVERY_SECONDS
        self._thread = threading.Thread(target=self._run, name="aurora-search-log", daemon=True)
        self._thread.start()

    def add(self, record: SearchRecord) -> None:
        """Queue `record` for writing; never blocks on the database."""
        with self._cond:
            if len(self._queue) >= self._max_queued:
                self._queue.popleft()
                self.dropped += 1
                self._settled += 1
            self._queue.append(record)
            self._added += 1
            if len(self._queue) >= self._batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record added so far is written (or given up on).

        Returns:
            False if `timeout` seconds passed first.
        """
        with self._cond:
            target = self._added
            self._flushing = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._settled >= target or not self._thread.is_alive(), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[SearchRecord] | None:
        """The next batch; None once stopping with nothing left."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._queue) >= self._batch_size or self._flushing or self._stopping,
                                self._flush_seconds)
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            if not self._queue:
                self._flushing = False
            if not batch and self._stopping:
                return None
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            if batch:
                self._write(batch)
            if self._retention_days is not None and time.monotonic() >= self._next_retention:
                self._next_retention = time.monotonic() + RETENTION_EVERY_SECONDS
                self._expire()

    def _write(self, batch: list[SearchRecord]) -> None:
        try:
            # One executemany, not ORM objects: a fifth of the CPU, taken from the searches' GIL.
            with self._sessions.begin() as session:
                session.execute(insert(Search), [record.to_values() for record in batch])
            self.written += len(batch)
        except Exception:  # the log must outlive any database trouble
            self.failed += len(batch)
            logger.exception("search log: %d record(s) dropped on a database error", len(batch))
        finally:
            with self._cond:
                self._settled += len(batch)
                self._cond.notify_all()

    def _expire(self) -> None:
        assert self._retention_days is not None
        try:
            deleted = delete_expired(self._sessions, self._retention_days)
            logger.info("retention: deleted %d row(s) older than %d days", deleted, self._retention_days)
        except Exception:
            logger.exception("retention: expired rows not deleted")
