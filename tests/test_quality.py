"""Retrieval quality with the real bundled encoder on the project's labelled questions.

These build a real index from data/faq.jsonl (e5+use, ~10 s) once per module. Figures are
asserted at the levels README reports, so a regression in the engine fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.serving import make_engine
from app.settings import Settings
from aurora_faq.build import build_engine, build_index
from aurora_faq.encoders import DEFAULT_ENCODER, Encoder, make_encoder
from aurora_faq.engine import Engine
from aurora_faq.evaluation import engine_search, judge, summarize
from aurora_faq.faq import LabelledQuery, read_queries
from aurora_faq.index import load_index
from aurora_faq.query import Query
from aurora_faq.text import default_tokenizer

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
FAQ = ROOT / "data" / "faq.jsonl"
QUERIES = ROOT / "data" / "eval" / "aurora_queries.jsonl"
# Issue 3's questions, which these floors guard; the shopper-style ones added for issue 16
# (romaji, near misses, other companies' services, ...) are judged by aurora-evaluate's checklist.
ISSUE_3 = ("ja-", "en-", "oos-")


def issue_3_queries() -> list[LabelledQuery]:
    return [q for q in read_queries(QUERIES) if q.id.startswith(ISSUE_3)]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return make_encoder(DEFAULT_ENCODER)


@pytest.fixture(scope="module")
def index_dir(encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "index"
    build_index(FAQ, out, encoder, cache_dir=None)
    return out


@pytest.fixture(scope="module")
def client(index_dir: Path, encoder: Encoder) -> Iterator[TestClient]:
    settings = Settings(index_path=index_dir, encoder=DEFAULT_ENCODER)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def figures(client: TestClient) -> dict[str, dict[str, float]]:
    """Summary per language of the labelled set, through the running app's engine."""
    engine: Engine = client.app.state.serving.current.engine  # type: ignore[attr-defined]
    rows = judge(issue_3_queries(), engine_search(engine))
    return {lang: summarize([r for r in rows if r.query.lang == lang]) for lang in ("ja", "en")}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_top1_accuracy_per_language(figures: dict[str, dict[str, float]], lang: str) -> None:
    assert figures[lang]["recall_at_1"] >= 0.97  # issue 3's target; measured 0.986 ja, 1.000 en


def test_answers_in_scope_and_refuses_out_of_scope(figures: dict[str, dict[str, float]]) -> None:
    answered = (figures["ja"]["answered_rate"] + figures["en"]["answered_rate"]) / 2
    refused = (figures["ja"]["refused_rate"] + figures["en"]["refused_rate"]) / 2
    # Measured 0.986 answered and 1.000 refused (README "Accuracy"); the floors are issue 3's
    # targets, which leave room for a question or two either way (BLAS rounding on another CPU).
    assert answered >= 0.95
    assert refused >= 0.95


@pytest.mark.parametrize(("q", "expected", "lang"), [
    ("クーポンコードはどこで入力しますか", "coupon-how-to", "ja"),
    ("注文をキャンセルしたい", "cancel-order", "ja"),
    ("Can I get a refund if the size is wrong?", "returns-and-exchanges", "en"),
    ("my paidy payment was not approved", "paidy-not-approved", "en"),
])
def test_api_answers_in_the_query_language(client: TestClient, q: str, expected: str, lang: str) -> None:
    body = client.get("/v1/search", params={"q": q}).json()
    assert body["lang"] == lang
    top = body["results"][0]
    assert (top["id"], top["lang"]) == (expected, lang)
    assert body["decision"] == "answer"
    assert top["confidence"] > 0.5
    assert body["fallback"] is None


def test_off_topic_question_gets_the_fallback(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "今日の大阪の天気は？"}).json()
    assert body["decision"] != "answer"
    assert "LINE" in body["fallback"]


def test_japanese_question_finds_an_english_only_entry(encoder: Encoder, tmp_path: Path) -> None:
    """Cross-lingual: the FAQ holds only English text; shoppers ask in Japanese."""
    english_only = []
    for line in FAQ.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        english_only.append({"id": e["id"], "category": e["category"],
                             "question": {"en": e["question"]["en"]}, "answer": {"en": e["answer"]["en"]},
                             "alternates": {"en": e["alternates"]["en"]}})
    path = tmp_path / "faq_en.jsonl"
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in english_only), encoding="utf-8")
    engine = build_engine(path, encoder, cache_dir=None)
    ja = [q for q in issue_3_queries() if q.lang == "ja"]
    figures = summarize(judge(ja, engine_search(engine)))
    assert figures["recall_at_1"] >= 0.80
    result = engine.search(Query.of("注文をキャンセルできますか"))
    assert result.hits[0].entry.id == "cancel-order"
    assert result.hits[0].lang == "en"  # shown in the only language the entry has


def test_questions_about_other_companies_are_not_answered(client: TestClient) -> None:
    # Issue 16's questions about another company's account, plan or store, and about services
    # this shop accepts (`AmazonPayの決済がエラーになる`), which stay answered.
    engine: Engine = client.app.state.serving.current.engine  # type: ignore[attr-defined]
    asked = [q for q in read_queries(QUERIES) if q.style == "other-company"]
    rows = judge(asked, engine_search(engine))
    others = [r.decision != "answer" for r in rows if not r.query.relevant]
    ours = [r.decision == "answer" and r.ranked[0] in r.query.relevant for r in rows if r.query.relevant]
    assert sum(others) / len(others) >= 0.90  # measured 0.977 of 43
    assert sum(ours) / len(ours) >= 0.70  # measured 0.786 of 14; none answered wrongly
    assert not any(r.decision == "answer" and r.ranked[0] not in r.query.relevant for r in rows if r.query.relevant)


def test_an_unwritten_name_limits_the_answer_unless_turned_off(index_dir: Path, encoder: Encoder) -> None:
    # The Spotify question ranks "change payment method" first at high confidence: only the
    # name the FAQ never writes keeps it from being answered.
    settings = Settings(index_path=index_dir, encoder=DEFAULT_ENCODER)
    question = Query.of("How do I change my Spotify payment method?")
    index = load_index(index_dir, encoder.name, default_tokenizer())
    decisions = {limit: make_engine(index, encoder, settings.model_copy(update={"limit_unwritten_names": limit}))
                 .search(question) for limit in (True, False)}
    assert [r.hits[0].entry.id for r in decisions.values()] == ["change-payment-method"] * 2
    assert (decisions[True].decision.value, decisions[False].decision.value) == ("clarify", "answer")


def test_english_typos_are_answered_as_the_words_they_miss(client: TestClient) -> None:
    # As typed, the off-topic detector took this for off topic (no_answer, 0.09).
    body = client.get("/v1/search", params={"q": "how do i cancell my oder"}).json()
    assert (body["decision"], body["results"][0]["id"]) == ("answer", "cancel-order")
    assert body["query"] == "how do i cancell my oder"  # shown as typed
