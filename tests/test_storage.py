"""app/storage: migrations, the search log, retention and POST /v1/feedback."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from app.settings import Settings
from app.storage.database import MIGRATIONS, database_url, make_engine, make_sessions, upgrade
from app.storage.models import Base, Feedback, Search, utc_now
from app.storage.retention import delete_expired
from app.storage.search_log import WRITTEN_WITHIN_SECONDS, SearchLog, SearchRecord, new_query_id, written_by
from app.storage.service import Storage
from tests.conftest import ClientFactory


def storage_of(client: TestClient) -> Storage:
    storage: Storage | None = client.app.state.storage  # type: ignore[attr-defined]
    assert storage is not None
    return storage


def searches(client: TestClient) -> list[Search]:
    storage = storage_of(client)
    assert storage.log.flush()
    with storage.sessions() as session:
        return list(session.scalars(select(Search)))


def record(query_id: str = "a" * 32, **changes: Any) -> SearchRecord:
    fields: dict[str, Any] = {"query_id": query_id, "query": "送料はいくらですか", "lang": "ja",
                              "decision": "answer", "top_ids": ["shipping-fee"], "top_confidence": 0.9,
                              "latency_ms": 3.5, "index_version": "v1"}
    return SearchRecord(**{**fields, **changes})


@pytest.fixture
def sessions(tmp_path: Path) -> Any:
    engine = make_engine(database_url(None, tmp_path / "data"))
    upgrade(engine)
    yield make_sessions(engine)
    engine.dispose()


def test_the_default_database_is_sqlite_in_wal_mode_in_data_dir(client: TestClient, settings: Settings) -> None:
    assert (settings.data_dir / "aurora.db").is_file()
    with storage_of(client).engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_match_the_models(sessions: Any) -> None:
    with sessions() as session:
        context = MigrationContext.configure(session.connection())
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    engine = make_engine(database_url(None, tmp_path))
    upgrade(engine)
    upgrade(engine)
    engine.dispose()


def test_searches_are_logged_masked(client: TestClient) -> None:
    first = client.get("/v1/search", params={"q": "注文番号 12345678 が届かない 090-1234-5678"}).json()
    second = client.post("/v1/search", json={"q": "送料はいくらですか", "k": 2}).json()
    rows = {row.query_id: row for row in searches(client)}
    assert set(rows) == {first["query_id"], second["query_id"]}
    logged = rows[first["query_id"]]
    assert logged.query == "注文番号 <order> が届かない <phone>"
    assert logged.lang == "ja" and logged.decision == first["decision"]
    assert logged.top_ids == [hit["id"] for hit in first["results"]]
    assert logged.index_version == first["index"]["version"]
    assert logged.latency_ms >= 0 and logged.created_at.tzinfo is not None
    assert rows[second["query_id"]].top_ids == [hit["id"] for hit in second["results"]]


def test_with_the_search_log_off_searches_are_not_stored_and_feedback_still_is(make_client: ClientFactory) -> None:
    with make_client(search_log=False) as client:
        search = client.get("/v1/search", params={"q": "送料はいくらですか"}).json()
        r = client.post("/v1/feedback", json={"query_id": search["query_id"], "answer_id": search["results"][0]["id"],
                                              "helpful": True})
        assert r.status_code == 201, r.text
        assert searches(client) == []
        with storage_of(client).sessions() as session:
            stored = session.get(Feedback, r.json()["id"])
        assert stored is not None and stored.query_id is None and stored.helpful


def test_a_failing_database_does_not_fail_searches(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    storage = storage_of(client)
    with storage.engine.begin() as connection:
        connection.execute(text("DROP TABLE feedback"))
        connection.execute(text("DROP TABLE searches"))
    with caplog.at_level(logging.ERROR, logger="app.storage.search_log"):
        r = client.get("/v1/search", params={"q": "送料はいくらですか"})
        assert r.status_code == 200
        assert storage.log.flush()
    assert storage.log.failed == 1
    assert "dropped on a database error" in caplog.text


def test_storage_that_cannot_open_leaves_search_up(make_client: ClientFactory, tmp_path: Path,
                                                   faq: dict[str, Any]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with make_client(database_url=f"sqlite:///{blocker}/sub/aurora.db") as client:
        assert client.get("/v1/capabilities").json() == {"feedback": False}
        assert client.get("/v1/search", params={"q": "送料"}).status_code == 200
        r = client.post("/v1/feedback", json={"answer_id": next(iter(faq)), "helpful": True})
        assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"


def test_a_full_queue_drops_the_oldest(sessions: Any) -> None:
    log = SearchLog(sessions, flush_seconds=60, batch_size=100, max_queued=3)
    for i in range(5):
        log.add(record(f"{i:032x}"))
    assert log.flush()
    log.close()
    with sessions() as session:
        kept = sorted(session.scalars(select(Search.query_id)))
    assert log.dropped == 2 and kept == [f"{i:032x}" for i in (2, 3, 4)]


def test_batches_are_written_when_full_without_a_flush(sessions: Any) -> None:
    log = SearchLog(sessions, flush_seconds=60, batch_size=10)
    for i in range(25):
        log.add(record(f"{i:032x}"))
    log.close()  # the remainder, written on shutdown
    assert log.written == 25


def test_shutdown_flushes_the_log(make_client: ClientFactory) -> None:
    with make_client() as client:
        query_id = client.get("/v1/search", params={"q": "返品したい"}).json()["query_id"]
        storage = storage_of(client)
    # After the lifespan has ended: the engine is disposed, but a new connection still reads.
    with storage.sessions() as session:
        assert session.get(Search, query_id) is not None
    storage.engine.dispose()  # the connection that read: psycopg warns of one left open


def test_retention_deletes_old_rows(sessions: Any) -> None:
    now = utc_now()
    with sessions.begin() as session:
        session.add_all([record("0" * 32, created_at=now - timedelta(days=91)).to_row(),
                         record("1" * 32, created_at=now - timedelta(days=89)).to_row()])
        session.flush()
        session.add_all([
            Feedback(query_id="0" * 32, answer_id="a", helpful=True, created_at=now - timedelta(days=91)),
            Feedback(query_id="0" * 32, answer_id="b", helpful=False, created_at=now - timedelta(days=1)),
            Feedback(query_id=None, answer_id="c", helpful=True, created_at=now - timedelta(days=100)),
        ])
    assert delete_expired(sessions, 90, now) == 3
    with sessions() as session:
        assert list(session.scalars(select(Search.query_id))) == ["1" * 32]
        kept = list(session.scalars(select(Feedback)))
    # Newer feedback on a deleted search stays, detached from it.
    assert [(f.answer_id, f.query_id) for f in kept] == [("b", None)]


def test_retention_runs_at_start_up(make_client: ClientFactory, settings: Settings) -> None:
    with make_client() as client:
        with storage_of(client).sessions.begin() as session:
            session.add(record("0" * 32, created_at=utc_now() - timedelta(days=10)).to_row())
    with make_client(retention_days=30) as client:
        assert len(searches(client)) == 1
    with make_client(retention_days=7) as client:
        assert searches(client) == []


# -- POST /v1/feedback -----------------------------------------------------------------------


def test_feedback_on_a_search_is_stored_masked(client: TestClient) -> None:
    search = client.get("/v1/search", params={"q": "送料はいくらですか"}).json()
    answer_id = search["results"][0]["id"]
    # Straight after the search: the log is flushed before the query id is looked up.
    r = client.post("/v1/feedback", json={"query_id": search["query_id"], "answer_id": answer_id,
                                          "helpful": False, "comment": "連絡は a@b.jp か 03-1234-5678 へ"})
    assert r.status_code == 201
    with storage_of(client).sessions() as session:
        stored = session.get(Feedback, r.json()["id"])
    assert stored is not None
    assert (stored.query_id, stored.answer_id, stored.helpful) == (search["query_id"], answer_id, False)
    assert stored.comment == "連絡は <email> か <phone> へ"


def test_feedback_on_a_suggestion_needs_no_search(client: TestClient, faq: dict[str, Any]) -> None:
    answer_id = next(iter(faq))
    r = client.post("/v1/feedback", json={"answer_id": answer_id, "helpful": True})
    assert r.status_code == 201 and isinstance(r.json()["id"], int)


def test_feedback_on_an_unknown_search_is_404(client: TestClient, faq: dict[str, Any]) -> None:
    r = client.post("/v1/feedback", json={"query_id": "f" * 32, "answer_id": next(iter(faq)), "helpful": True})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found" and "f" * 32 in r.json()["error"]["message"]


def test_feedback_on_an_unknown_answer_is_404(client: TestClient) -> None:
    r = client.post("/v1/feedback", json={"answer_id": "no-such-entry", "helpful": True})
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "not_found", "message": "no FAQ entry with id 'no-such-entry'"}


@pytest.mark.parametrize("body", [
    {"helpful": True},
    {"answer_id": "x", "helpful": "maybe"},
    {"answer_id": "x", "helpful": True, "comment": "あ" * 1001},
    {"answer_id": "x", "helpful": True, "query_id": "not-hex"},
    {"answer_id": "x", "helpful": True, "rating": 5},
    {"answer_id": "", "helpful": True},
])
def test_malformed_feedback_is_422(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"


def test_feedback_is_in_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/feedback"]["post"]
    assert set(operation["responses"]) >= {"201", "404", "422"}
    assert spec["components"]["schemas"]["FeedbackRequest"]["additionalProperties"] is False


def test_query_ids_tell_feedback_how_long_to_wait_for_their_search() -> None:
    before = time.time()
    query_id = new_query_id()
    assert len(query_id) == 32 and int(query_id, 16) >= 0 and query_id != new_query_id()
    assert before - 0.001 + WRITTEN_WITHIN_SECONDS <= written_by(query_id) <= time.time() + WRITTEN_WITHIN_SECONDS
    time.sleep(0.002)
    assert new_query_id() > query_id  # time-ordered
    assert written_by("f" * 32) == 0.0  # a time to come: not one of ours, not waited for
    assert written_by("0" * 32) == WRITTEN_WITHIN_SECONDS  # long ago: already written if ever
