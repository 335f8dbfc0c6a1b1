"""Feedback acknowledged is feedback kept: a real server killed with SIGKILL while several clients
post feedback loses none that got its 201, on SQLite and on PostgreSQL, and starts again on the
database it left."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.storage.models import Feedback
from tests.server import Server, serve
from tests.services import NO_RATE_LIMITS, PostgresServer, stored_rows, wait_for

CLIENTS = 8
ACKNOWLEDGED_BEFORE_KILL = 200  # enough that the kill lands among requests in flight
SEARCHES = ["送料はいくらですか", "返品したい", "How do I cancel my order?"]


@dataclass
class Database:
    url: str | None  # None: the server's default, SQLite in its data directory
    data_dir: Path
    postgres: PostgresServer | None = None

    def env(self) -> dict[str, str]:
        return {**NO_RATE_LIMITS, "AURORA_DATA_DIR": str(self.data_dir),
                **({"AURORA_DATABASE_URL": self.url} if self.url else {})}

    def rows(self, model: Any) -> list[Any]:
        return stored_rows(model, self.url, self.data_dir)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(None, tmp_path / "data")
    url = request.getfixturevalue("fresh_postgres_url")
    return Database(url, tmp_path / "data", request.getfixturevalue("postgres_server"))


@dataclass
class Poster:
    """One client posting feedback until the server goes away; what it was told, kept."""

    server: Server
    number: int
    query_ids: list[str]
    answer_id: str
    acknowledged: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (id, body)
    refused: list[httpx.Response] = field(default_factory=list)
    ended_by: Exception | None = None

    def run(self) -> None:
        with httpx.Client(base_url=self.server.base, timeout=30) as client:
            for n in itertools.count():
                body: dict[str, Any] = {"answer_id": self.answer_id, "helpful": n % 2 == 0,
                                        "comment": f"client {self.number} post n{n}"}
                if n % 2:
                    body["query_id"] = self.query_ids[n % len(self.query_ids)]
                try:
                    response = client.post("/v1/feedback", json=body)
                except httpx.TransportError as e:  # the server is gone
                    self.ended_by = e
                    return
                if response.status_code == 201:
                    self.acknowledged.append((response.json()["id"], body))
                else:
                    self.refused.append(response)


def searched(server: Server) -> list[str]:
    """Query ids of a few searches (queued in the search log before their answers left)."""
    return [httpx.get(server.base + "/v1/search", params={"q": q}).json()["query_id"] for q in SEARCHES]


def posters_until_killed(server: Server, query_ids: list[str], answer_id: str) -> list[Poster]:
    posters = [Poster(server, i, query_ids, answer_id) for i in range(CLIENTS)]
    threads = [threading.Thread(target=p.run) for p in posters]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: sum(len(p.acknowledged) for p in posters) >= ACKNOWLEDGED_BEFORE_KILL, 60, "feedback")
    finally:
        server.process.kill()  # SIGKILL: no shutdown, no flush, transactions cut where they stand
        server.process.wait()
        for thread in threads:
            thread.join(30)
    return posters


def test_acknowledged_feedback_survives_kill_9(database: Database, index_dir: Path, tmp_path: Path,
                                               faq: dict[str, Any]) -> None:
    answer_id = next(iter(faq))
    with serve(index_dir, tmp_path, env=database.env()) as server:
        posters = posters_until_killed(server, searched(server), answer_id)
    assert [p.refused for p in posters] == [[]] * CLIENTS
    assert all(isinstance(p.ended_by, httpx.TransportError) for p in posters)  # all were cut off
    if database.postgres is not None:
        # And the database crashes too: what it acknowledged must come back from its WAL.
        database.postgres.stop("immediate")
        database.postgres.start()

    stored = {row.id: row for row in database.rows(Feedback)}
    acknowledged = dict(pair for p in posters for pair in p.acknowledged)
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    missing = sorted(set(acknowledged) - set(stored))
    assert missing == [], f"{len(missing)} acknowledged feedback lost: ids {missing[:10]}"
    for feedback_id, body in acknowledged.items():
        row = stored[feedback_id]
        assert (row.answer_id, row.helpful, row.comment, row.query_id) == (
            body["answer_id"], body["helpful"], body["comment"], body.get("query_id"))
    # Stored without a 201: only those in flight when the kill came, one a client at most.
    assert len(stored) - len(acknowledged) <= CLIENTS

    # The service starts again on what it left, and goes on numbering after it.
    with serve(index_dir, tmp_path / "again", env=database.env()) as server:
        r = httpx.post(server.base + "/v1/feedback", json={"answer_id": answer_id, "helpful": True})
        assert r.status_code == 201 and r.json()["id"] not in stored
    assert r.json()["id"] in {row.id for row in database.rows(Feedback)}

