"""`Storage`: what the lifespan opens from `Settings` (database, schema, search log) and closes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .database import database_url, make_engine, make_sessions, upgrade
from .retention import delete_expired
from .search_log import SearchLog

logger = logging.getLogger(__name__)


@dataclass
class Storage:
    engine: Engine
    sessions: sessionmaker[Session]
    log: SearchLog

    @classmethod
    def open(cls, url: str | None, data_dir: Path, retention_days: int) -> Storage:
        """Connect, migrate to the newest schema, delete expired rows and start the search log.

        Args:
            url: an SQLAlchemy database URL; None for SQLite in `data_dir`.
            data_dir: where the default database lives (created on first start).
            retention_days: how long searches and feedback are kept.
        """
        engine = make_engine(database_url(url, data_dir))
        try:
            upgrade(engine)
            sessions = make_sessions(engine)
            deleted = delete_expired(sessions, retention_days)
        except BaseException:
            engine.dispose()
            raise
        logger.info("storage at %s (%d expired row(s) deleted)", engine.url.render_as_string(hide_password=True),
                    deleted)
        return cls(engine, sessions, SearchLog(sessions, retention_days))

    def close(self) -> None:
        """Flush the search log and release the connections."""
        self.log.close()
        self.engine.dispose()
