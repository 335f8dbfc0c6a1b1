"""The database: one engine from `Settings`, its schema brought up to date by Alembic, sessions
from one factory.

SQLite (the default, a file in `Settings.data_dir`) is set up for a service that writes from a
background thread while requests read: WAL (readers never wait for the writer), a busy timeout,
foreign keys enforced (as PostgreSQL does), and every transaction begun with `BEGIN IMMEDIATE`,
so a writer takes the lock up front instead of failing to upgrade a read lock midway
(SQLAlchemy's "Serializable isolation / Savepoints / Transactional DDL" recipe for pysqlite).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
DATABASE_FILE = "aurora.db"
BUSY_TIMEOUT_MS = 5000


def database_url(url: str | None, data_dir: Path) -> str:
    """`url`, or when it is None a SQLite file in `data_dir` (created if missing)."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        # pysqlite's own BEGIN would come before ours; `begin` below emits it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses at most the last batch
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings above when it is SQLite."""
    engine = create_engine(url)
    if make_url(url).get_backend_name() == "sqlite":
        _sqlite_setup(engine)
    return engine


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (`migrations/versions/`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """The one session factory (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)
