"""app/logs.py: one line a request, as JSON or text, with the route's fields and never the shopper's text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from app.logs import REQUEST_LOGGER, TEXT_FORMAT, JsonLine, TextLine, configure_logging
from app.metrics import install_metrics
from app.settings import Settings
from tests.test_metrics import metered_app

EMAIL = "hanako.yamada@example.jp"

LogClient = Callable[..., AbstractContextManager[tuple[TestClient, io.StringIO]]]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes the process's logging: put it back after the test."""
    root, uvicorn = logging.getLogger(), logging.getLogger("uvicorn")
    saved = root.handlers[:], root.level, uvicorn.handlers[:], uvicorn.propagate
    yield
    root.handlers[:], root.level, uvicorn.handlers[:], uvicorn.propagate = saved


@pytest.fixture
def log_client(settings: Settings) -> LogClient:
    """`with log_client(formatter, **overrides) as (client, lines):` the service, measured, with
    the request logger's records formatted by `formatter` into `lines`."""

    @contextmanager
    def factory(formatter: logging.Formatter, **overrides: Any) -> Iterator[tuple[TestClient, io.StringIO]]:
        app = metered_app(Settings(**{**settings.model_dump(), **overrides}))
        with capture(formatter) as lines, TestClient(app) as client:
            yield client, lines

    return factory


@contextmanager
def capture(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """The request logger's records, at INFO, formatted by `formatter`, one a line."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(formatter)
    logger = logging.getLogger(REQUEST_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_carry_the_request_and_never_the_query(log_client: LogClient) -> None:
    with log_client(JsonLine(), rate_limit_search="") as (client, lines):
        got = client.get("/v1/search", params={"q": f"{EMAIL} に返品の連絡をしたい", "k": 2})
        posted = client.post("/v1/search", json={"q": f"return to {EMAIL}"})
        missing = client.get("/v1/faq/no-such-entry")
    assert got.status_code == posted.status_code == 200 and missing.status_code == 404
    text = lines.getvalue()
    assert EMAIL not in text and "example.jp" not in text and "返品" not in text and "q=" not in text
    records = json_lines(text)
    assert [(r["method"], r["route"], r["status"]) for r in records] == [
        ("GET", "/v1/search", 200), ("POST", "/v1/search", 200), ("GET", "/v1/faq/{entry_id}", 404)]
    for record in records:
        assert record["logger"] == REQUEST_LOGGER and record["level"] == "INFO" and record["client"] == "testclient"
        assert isinstance(record["pid"], int) and record["time"].endswith("+00:00")
        assert 0 < record["duration_ms"] < 10_000
    # The search route's fields (request.state.log_fields), among them the id the shopper got.
    searches = records[:2]
    assert [r["query_id"] for r in searches] == [got.json()["query_id"], posted.json()["query_id"]]
    assert searches[0]["decision"] == got.json()["decision"] and searches[0]["lang"] == got.json()["lang"]
    assert searches[0]["chars"] == len(f"{EMAIL} に返品の連絡をしたい")
    assert "query_id" not in records[2]


def test_text_line_says_the_same(log_client: LogClient) -> None:
    with log_client(TextLine(TEXT_FORMAT), rate_limit_search="") as (client, lines):
        answer = client.get("/v1/search", params={"q": f"{EMAIL} shipping cost"}).json()
        client.get("/healthz")
    search_line, health_line = lines.getvalue().splitlines()
    assert EMAIL not in search_line and "shipping" not in search_line
    assert f" INFO {REQUEST_LOGGER}[" in search_line
    assert " GET /v1/search 200 " in search_line and f" query_id={answer['query_id']}" in search_line
    assert " ms client=testclient" in search_line and f" decision={answer['decision']}" in search_line
    assert " route=" not in search_line  # what the message says is not repeated
    assert " GET /healthz 200 " in health_line and health_line.endswith(" ms client=testclient")


def test_route_fields_merge_but_never_replace_the_request_own() -> None:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str, request: Request) -> dict[str, str]:
        request.state.log_fields = {"query_id": "q-1", "status": "forged", "confidence": 0.912345, "top": None}
        return {"id": item_id}

    install_metrics(app)
    for formatter in (JsonLine(), TextLine(TEXT_FORMAT)):
        with capture(formatter) as lines, TestClient(app) as client:
            assert client.get("/items/secret-42", headers={"x-forwarded-for": "203.0.113.9"}).status_code == 200
        line = lines.getvalue()
        assert "secret-42" not in line
        if isinstance(formatter, JsonLine):
            record = json.loads(line)
            assert (record["route"], record["status"], record["query_id"]) == ("/items/{item_id}", 200, "q-1")
            assert record["confidence"] == 0.912345 and record["top"] is None
            assert record["client"] == "testclient"  # no trusted proxy: the header is not believed
        else:
            assert " GET /items/{item_id} 200 " in line
            assert line.rstrip().endswith("client=testclient query_id=q-1 confidence=0.9123 top=-")


def test_configure_logging_writes_json_to_stderr(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    logging.getLogger("app.somewhere").info("not at this level")
    logging.getLogger("app.somewhere").warning("disk %d%% full", 91, extra={"disk": "/srv"})
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("failed")
    first, second = json_lines(capsys.readouterr().err)
    assert (first["level"], first["logger"], first["message"], first["disk"]) == ("WARNING", "app.somewhere",
                                                                                   "disk 91% full", "/srv")
    assert second["logger"] == "uvicorn.error" and "ValueError: broken" in second["exc_info"]


def test_configure_logging_text(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "text")
    logging.getLogger("app.somewhere").debug("seen at %s", "debug")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("]: seen at debug") and " DEBUG app.somewhere[" in line
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")
