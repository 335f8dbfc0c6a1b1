"""app/storage on PostgreSQL: test_storage's tests of the migrations, the search log, feedback and
retention run again here on a database of their own (`fresh_postgres_url`), plus what only a
server database can show."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings
from app.storage.database import MIGRATIONS, make_engine, make_sessions, upgrade
from app.storage.models import Base, Search
from app.storage.service import Storage
from tests import test_storage as on_sqlite
from tests.conftest import ClientFactory
from tests.server import free_port

# The same functions, collected here: their `sessions`, `settings` and clients are the
# PostgreSQL ones below. Left out: SQLite's own (pragmas, a file path that cannot be created),
# and those that never reach the database (validation, the OpenAPI document).
test_migrations_match_the_models = on_sqlite.test_migrations_match_the_models
test_searches_are_logged_masked = on_sqlite.test_searches_are_logged_masked
test_a_failing_database_does_not_fail_searches = on_sqlite.test_a_failing_database_does_not_fail_searches
test_a_full_queue_drops_the_oldest = on_sqlite.test_a_full_queue_drops_the_oldest
test_batches_are_written_when_full_without_a_flush = on_sqlite.test_batches_are_written_when_full_without_a_flush
test_retention_deletes_old_rows = on_sqlite.test_retention_deletes_old_rows
test_retention_runs_at_start_up = on_sqlite.test_retention_runs_at_start_up
test_shutdown_flushes_the_log = on_sqlite.test_shutdown_flushes_the_log
test_feedback_on_a_search_is_stored_masked = on_sqlite.test_feedback_on_a_search_is_stored_masked
test_feedback_on_a_suggestion_needs_no_search = on_sqlite.test_feedback_on_a_suggestion_needs_no_search
test_feedback_on_an_unknown_search_is_404 = on_sqlite.test_feedback_on_an_unknown_search_is_404
test_with_the_search_log_off_searches_are_not_stored_and_feedback_still_is = \
    on_sqlite.test_with_the_search_log_off_searches_are_not_stored_and_feedback_still_is


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    upgrade(engine)
    return make_sessions(engine)


@pytest.fixture
def settings(settings: Settings, fresh_postgres_url: str) -> Settings:
    return settings.model_copy(update={"database_url": fresh_postgres_url})


def test_the_database_is_postgresql(make_client: ClientFactory) -> None:
    # Without this, a fixture that fell back to SQLite would pass every test above.
    with make_client() as client:
        storage: Storage = client.app.state.storage  # type: ignore[attr-defined]
        assert storage.engine.dialect.name == "postgresql"
        assert storage.engine.driver == "psycopg"


def test_storage_open_migrates_to_head(fresh_postgres_url: str, tmp_path: Path) -> None:
    storage = Storage.open(fresh_postgres_url, tmp_path / "data", retention_days=90)
    try:
        with storage.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
            assert compare_metadata(context, Base.metadata) == []
            # Times keep their offset: timestamptz, not a naive timestamp.
            columns = {c["name"]: c for c in inspect(connection).get_columns("searches")}
            assert getattr(columns["created_at"]["type"], "timezone", False) is True
    finally:
        storage.close()
    assert not (tmp_path / "data").exists()  # no SQLite file on the side


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) >= set(Base.metadata.tables) | {"alembic_version"}


def test_times_come_back_in_utc_from_a_server_in_another_zone(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert session.connection().exec_driver_sql("SHOW timezone").scalar() == "Asia/Tokyo"
    row = on_sqlite.record().to_row()
    with sessions.begin() as session:
        session.add(row)
    with sessions() as session:
        stored = session.scalars(select(Search)).one()
    assert stored.created_at == row.created_at and stored.created_at.tzinfo is UTC


def test_storage_that_cannot_connect_leaves_search_up(make_client: ClientFactory, faq: dict[str, Any]) -> None:
    nobody = f"postgresql+psycopg://aurora@127.0.0.1:{free_port()}/aurora"  # nothing listens there
    with make_client(database_url=nobody) as client:
        assert client.get("/v1/capabilities").json() == {"feedback": False}
        assert client.get("/v1/search", params={"q": "送料"}).status_code == 200
        r = client.post("/v1/feedback", json={"answer_id": next(iter(faq)), "helpful": True})
        assert r.status_code == 503
