"""Engine over the tiny fake-encoder index: ranking, languages, decisions, cache, validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aurora_faq.build import build_engine
from aurora_faq.encoders import FakeEncoder
from aurora_faq.errors import QueryError
from aurora_faq.index import FaqIndex
from aurora_faq.search import MAX_K, MAX_QUERY_CHARS, Engine, SearchResult, Thresholds

FALLBACK = {"en": "Sorry, please contact support.", "ja": "お問い合わせフォームからご連絡ください。"}
QUERIES = ["How do I cancel my order?", "注文をキャンセルしたい", "where is my tracking number",
           "tracking number delivery", "ラッピング", "return policy", "coupon", "いつ届く",
           "Which planet is the largest?", "今日の天気は？", "send", "配送"]


@pytest.fixture(scope="module")
def engine(tiny_index: FaqIndex) -> Engine:
    return Engine(tiny_index, FakeEncoder(), fallback=FALLBACK)


def ids(result: SearchResult) -> list[str]:
    return [h.entry.id for h in result.hits]


def test_exact_phrasing_finds_its_entry_and_names_the_phrasing(engine: Engine) -> None:
    misses = []
    for entry in engine.index.entries:
        for _, text in entry.phrasings():
            top = engine.search(text, k=3).hits[0]
            if (top.entry.id, top.matched) != (entry.id, text):
                misses.append((text, top.entry.id, top.matched))
    assert misses == []


def test_many_alternates_do_not_crowd_out_other_entries(engine: Engine) -> None:
    # "tracking" has 51 phrasings much like this query; the runner-up is still another entry.
    result = engine.search("tracking number delivery", k=2)
    assert sorted(ids(result)) == ["delivery-time", "tracking"]
    everything = engine.search("where is my tracking number", k=MAX_K)
    assert sorted(ids(everything)) == sorted(e.id for e in engine.index.entries)


@pytest.mark.parametrize("k", [1, 2, 5, 6, MAX_K])
def test_k_results_at_most(engine: Engine, k: int) -> None:
    result = engine.search("How do I cancel my order?", k=k)
    assert len(result.hits) == min(k, len(engine.index.entries))
    assert len(set(ids(result))) == len(result.hits)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_category_filter(engine: Engine) -> None:
    shipping = engine.search("How do I cancel my order?", k=5, category="shipping")
    assert sorted(ids(shipping)) == ["delivery-time", "tracking"]
    order = engine.search("How do I cancel my order?", k=5, category="order")
    assert ids(order)[0] == "cancel-order"
    assert {h.entry.category for h in order.hits} == {"order"} and len(order.hits) == 3
    nothing = engine.search("How do I cancel my order?", category="no-such-category")
    assert (nothing.hits, nothing.decision, nothing.fallback) == ([], "no_answer", FALLBACK["en"])


@pytest.mark.parametrize(("query", "lang"), [
    ("注文をキャンセルしたい", "ja"), ("ギフト包装", "ja"), ("How do I cancel my order?", "en"),
    ("Can I return an item?", "en"),
])
def test_results_in_the_query_language_or_the_only_one_an_entry_has(engine: Engine, query: str,
                                                                    lang: str) -> None:
    result = engine.search(query, k=MAX_K)
    assert result.lang == lang
    shown = {h.entry.id: h.lang for h in result.hits}
    for entry_id in ("cancel-order", "delivery-time", "coupon-how-to"):
        assert shown[entry_id] == lang  # bilingual
    assert shown["returns"] == shown["tracking"] == "en"
    assert shown["gift-wrap"] == "ja"


def test_explicit_lang_overrides_detection(engine: Engine) -> None:
    result = engine.search("注文をキャンセルしたい", lang="en")
    assert result.lang == "en"
    assert result.hits[0].entry.id == "cancel-order" and result.hits[0].lang == "en"


def test_default_thresholds_answer_an_faq_question_and_not_small_talk(engine: Engine) -> None:
    assert engine.search("How do I cancel my order?").decision == "answer"
    assert engine.search("Which planet is the largest?").decision != "answer"


def test_faq_without_alternates_answers_its_own_questions(
        tmp_path: Path, tiny_faq: list[dict[str, Any]],
        write_jsonl: Callable[[Path, list[Any]], Path]) -> None:
    questions_only = [{k: v for k, v in e.items() if k != "alternates"} for e in tiny_faq]
    engine = build_engine(write_jsonl(tmp_path / "faq.jsonl", questions_only), FakeEncoder(), cache_dir=None)
    for entry in engine.index.entries:
        for _, question in entry.phrasings():
            result = engine.search(question)
            assert (result.hits[0].entry.id, result.decision) == (entry.id, "answer"), question


@pytest.mark.parametrize(("answer", "clarify"),
                         [(0.0, 0.0), (0.5, 0.2), (0.9, 0.05), (1.01, 0.0), (1.01, 1.01)])
@pytest.mark.parametrize("k", [1, 3])
def test_decision_follows_the_thresholds_and_fallback_is_shown_iff_not_answering(
        tiny_index: FaqIndex, answer: float, clarify: float, k: int) -> None:
    engine = Engine(tiny_index, FakeEncoder(), Thresholds(answer=answer, clarify=clarify), FALLBACK)
    for result in engine.search_many(QUERIES, k=k):
        top = result.hits[0].confidence
        if top >= answer:
            expected = "answer"
        elif top >= clarify and len(result.hits) > 1:
            expected = "clarify"
        else:
            expected = "no_answer"
        assert result.decision == expected, (result.query, top)
        assert result.fallback == (None if expected == "answer" else FALLBACK[result.lang])


@pytest.mark.parametrize(("thresholds", "k", "decision"), [
    (Thresholds(answer=0.0, clarify=0.0), 3, "answer"),
    (Thresholds(answer=1.01, clarify=0.0), 3, "clarify"),
    (Thresholds(answer=1.01, clarify=0.0), 1, "no_answer"),  # one result is nothing to choose from
    (Thresholds(answer=1.01, clarify=1.01), 3, "no_answer"),
])
def test_extreme_thresholds_force_each_decision(tiny_index: FaqIndex, thresholds: Thresholds, k: int,
                                                decision: str) -> None:
    engine = Engine(tiny_index, FakeEncoder(), thresholds, FALLBACK)
    assert {r.decision for r in engine.search_many(QUERIES, k=k)} == {decision}


def test_confidence_is_a_probability_non_increasing_down_the_list(engine: Engine) -> None:
    for result in engine.search_many(QUERIES, k=MAX_K):
        conf = [h.confidence for h in result.hits]
        assert all(0.0 <= c <= 1.0 for c in conf)
        assert conf == sorted(conf, reverse=True), result.query
    for result in engine.search_many(QUERIES, k=MAX_K, category="order"):
        conf = [h.confidence for h in result.hits]
        assert conf == sorted(conf, reverse=True), result.query


def test_search_many_matches_single_searches_with_one_encoder_call(
        tiny_index: FaqIndex, engine: Engine, counting_encoder: Any) -> None:
    batched = Engine(tiny_index, counting_encoder).search_many(QUERIES, k=3)
    assert counting_encoder.calls == 1
    for query, result in zip(QUERIES, batched, strict=True):
        single = engine.search(query, k=3)
        assert result.query == query
        assert [(h.entry.id, h.confidence) for h in result.hits] == \
            [(h.entry.id, h.confidence) for h in single.hits]


def test_search_many_exclude_hides_entries_per_query(engine: Engine) -> None:
    hidden, shown = engine.search_many(["How do I cancel my order?"] * 2, k=MAX_K,
                                       exclude=[["cancel-order", "returns", "not-an-id"], []])
    assert ids(shown)[0] == "cancel-order"
    assert set(ids(shown)) - set(ids(hidden)) == {"cancel-order", "returns"}
    assert len(hidden.hits) == len(engine.index.entries) - 2


def test_excluding_every_entry_means_no_answer(engine: Engine) -> None:
    every_id = [e.id for e in engine.index.entries]
    (result,) = engine.search_many(["How do I cancel my order?"], exclude=[every_id])
    assert (result.hits, result.decision) == ([], "no_answer")


def test_cache_serves_other_spellings_of_the_same_query(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    engine = Engine(tiny_index, counting_encoder)
    first = engine.search("How do I cancel my order?")
    again = engine.search("  ＨＯＷ  do I\tcancel my ORDER？ ")
    assert counting_encoder.calls == 1
    assert again.query == "  ＨＯＷ  do I\tcancel my ORDER？ "  # the caller's spelling, not the cached one
    assert [(h.entry.id, h.confidence, h.matched) for h in again.hits] == \
        [(h.entry.id, h.confidence, h.matched) for h in first.hits]
    engine.search("How do I cancel my order?", k=2)  # k is part of the key
    engine.search("How do I cancel my order?", category="order")  # so is the category
    assert counting_encoder.calls == 3


def test_cache_is_a_bounded_lru(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    engine = Engine(tiny_index, counting_encoder, cache_size=2)

    def encoded(query: str) -> bool:
        before = counting_encoder.calls
        engine.search(query)
        return counting_encoder.calls > before

    assert [encoded(q) for q in ("coupon", "return policy", "delivery time")] == [True, True, True]
    assert encoded("delivery time") is False
    assert encoded("return policy") is False  # now the most recently used
    assert encoded("coupon") is True  # evicted when the third query came in; evicts "delivery time"
    assert encoded("return policy") is False
    assert encoded("delivery time") is True


def test_cache_can_be_disabled(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    engine = Engine(tiny_index, counting_encoder, cache_size=0)
    engine.search("coupon")
    engine.search("coupon")
    assert counting_encoder.calls == 2


@pytest.mark.parametrize(("query", "k", "lang", "fragment"), [
    ("", 3, None, "empty"),
    ("   \t\n", 3, None, "empty"),
    ("x" * (MAX_QUERY_CHARS + 1), 3, None, f"at most {MAX_QUERY_CHARS}"),
    ("\x00\x01\x02", 3, None, "control characters"),
    ("coupon", 0, None, f"between 1 and {MAX_K}"),
    ("coupon", MAX_K + 1, None, f"between 1 and {MAX_K}"),
    ("coupon", True, None, "integer"),
    ("coupon", 3, "fr", "lang must be one of ja, en"),
])
def test_bad_queries_raise_query_error(engine: Engine, query: str, k: Any, lang: str | None,
                                       fragment: str) -> None:
    with pytest.raises(QueryError, match=fragment):
        Engine.check_query(query, k, lang)
    with pytest.raises(QueryError, match=fragment):
        engine.search_many(["coupon", query], k=k, lang=lang)


@pytest.mark.parametrize(("query", "k"), [("x" * MAX_QUERY_CHARS, 1), ("c", MAX_K)])
def test_limits_are_inclusive(engine: Engine, query: str, k: int) -> None:
    assert engine.search(query, k=k).hits



def test_row_dots_read_in_place_match_numpy() -> None:
    from aurora_faq.search import _row_dots

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 64)).astype(np.float32)
    rows = np.sort(rng.choice(500, 40, replace=False))
    query = rng.standard_normal(64).astype(np.float32)
    assert np.allclose(_row_dots(vecs, rows, query), vecs[rows] @ query, atol=1e-5)
    # Matrices faiss cannot read in place take numpy's way, with the same result.
    assert np.allclose(_row_dots(np.asfortranarray(vecs), rows, query), vecs[rows] @ query, atol=1e-5)
    assert np.allclose(_row_dots(vecs.astype(np.float64), rows, query), vecs[rows] @ query, atol=1e-5)
