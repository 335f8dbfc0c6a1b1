"""The OpenAPI document is the contract: schemathesis sends what it allows (positive) and what it
forbids (negative) to every operation, in-process, and every check holds. Also: the schema's
pattern on `q` refuses exactly what the core refuses."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from schemathesis.python.asgi import HOST, ASGIClient, get_client, shutdown_lifespans

from app.main import create_app
from app.schemas import READABLE
from app.settings import Settings
from aurora_faq.errors import QueryError
from aurora_faq.query import Query

ADMIN_KEY = "contract-test-key"
BASE_URL = f"http://{HOST}"
# Off: schemathesis sends hundreds of requests. On: the admin routes are exercised past their key.
OVERRIDES: dict[str, Any] = {"rate_limit_search": "", "rate_limit_suggest": "", "rate_limit_feedback": "",
                             "admin_key": SecretStr(ADMIN_KEY)}
# Fuzzed cases per operation, besides the examples and coverage phases: ~25 s for the document.
MAX_EXAMPLES = 200

# The document as the service serves it; building the app loads nothing (no index needed).
schema = schemathesis.openapi.from_dict(create_app(Settings(index_path=Path("unused"), **OVERRIDES)).openapi())
schema.config.update(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
# The same cases every run, here and in CI; none replayed from a local example database.
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=MAX_EXAMPLES,
                                deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.checks.update(included_check_names=["all"])


@pytest.fixture(scope="module")
def service(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ASGIClient]:
    """The fake-encoder service, in-process, its lifespan run, shared by every operation's test
    (as the conftest `settings`, untouched by the caller's AURORA_* variables)."""
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("AURORA_")]:
            env.delenv(name)
        settings = Settings(index_path=index_dir, encoder="fake", data_dir=tmp_path_factory.mktemp("contract"),
                            **OVERRIDES)
        with get_client(create_app(settings)) as client:
            yield client
        shutdown_lifespans()


@schema.parametrize()
def test_every_operation_keeps_the_contract(case: schemathesis.Case, service: ASGIClient) -> None:
    case.call_and_validate(session=service, base_url=BASE_URL)


def _refused(text: str) -> bool:
    try:
        Query.of(text)
    except QueryError:
        return True
    return False


def test_the_schema_pattern_on_q_refuses_what_the_core_refuses() -> None:
    readable = re.compile(READABLE["pattern"])
    # Every character alone (lone surrogates are not text: JSON and UTF-8 cannot carry them)...
    blank = []
    for cp in range(sys.maxunicode + 1):
        if not 0xD800 <= cp <= 0xDFFF:
            refused = _refused(chr(cp))
            assert (readable.search(chr(cp)) is None) == refused, f"U+{cp:04X}"
            if refused:
                blank.append(chr(cp))
    # ...and among blank ones: refused only while nothing else is there.
    for c in blank:
        for text in (c * 3, f"{c}a{c}", f"{c}送料", f"{c}\u0301"):
            assert (readable.search(text) is None) == _refused(text), repr(text)


def test_a_method_a_path_does_not_serve_is_a_405_naming_every_method_it_does(client: TestClient) -> None:
    for method in ("OPTIONS", "PUT", "DELETE"):
        response = client.request(method, "/v1/search")
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert client.get("/v1/feedback").headers["allow"] == "POST"
    assert client.delete("/v1/faq/payment-methods").headers["allow"] == "GET"
    assert client.post("/widget/demo.css").headers["allow"] == "GET, HEAD"  # a mount answers for itself


def test_the_document_lists_the_413_and_429_answers_where_they_can_happen(settings: Settings) -> None:
    paths = create_app(settings.model_copy(update={"rate_limit_suggest": "", "rate_limit_search": "5/second"}
                                           )).openapi()["paths"]
    search, suggest, faq = paths["/v1/search"], paths["/v1/suggest"], paths["/v1/faq"]
    assert "5 per 1 second" in search["get"]["responses"]["429"]["description"]
    assert search["post"]["responses"]["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "413" in search["post"]["responses"] and "413" in paths["/v1/feedback"]["post"]["responses"]
    assert "429" not in suggest["get"]["responses"]  # its limit is off
    assert "413" not in search["get"]["responses"]  # no body
    assert {"413", "429"}.isdisjoint(faq["get"]["responses"])
