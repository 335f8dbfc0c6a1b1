"""Engine over the tiny fake-encoder index: ranking, languages, the decision, the cross-language
path, the cache."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aurora_faq.build import build_engine
from aurora_faq.calibration import FEATURES, Calibrator
from aurora_faq.encoders import FakeEncoder
from aurora_faq.engine import Decision, Engine, SearchResult, Thresholds, decide
from aurora_faq.index import FaqIndex
from aurora_faq.query import MAX_K, MAX_QUERY_CHARS, Query
from aurora_faq.ranking import rank

FALLBACK = {"en": "Sorry, please contact support.", "ja": "お問い合わせフォームからご連絡ください。"}
QUERIES = ["How do I cancel my order?", "注文をキャンセルしたい", "where is my tracking number",
           "tracking number delivery", "ラッピング", "return policy", "coupon", "いつ届く",
           "Which planet is the largest?", "今日の天気は？", "send", "配送"]


@pytest.fixture(scope="module")
def engine(tiny_index: FaqIndex) -> Engine:
    return Engine(tiny_index, FakeEncoder(), fallback=FALLBACK)


def ids(result: SearchResult) -> list[str]:
    return [h.entry.id for h in result.hits]


def queries(texts: list[str], **options: Any) -> list[Query]:
    return [Query.of(text, **options) for text in texts]


def test_exact_phrasing_finds_its_entry_and_names_the_phrasing(engine: Engine) -> None:
    misses = []
    for entry in engine.index.entries:
        for _, text in entry.phrasings():
            top = engine.search(Query.of(text)).hits[0]
            if (top.entry.id, top.matched) != (entry.id, text):
                misses.append((text, top.entry.id, top.matched))
    assert misses == []


def test_many_alternates_do_not_crowd_out_other_entries(engine: Engine) -> None:
    # "tracking" has 51 phrasings much like this query; the runner-up is still another entry.
    result = engine.search(Query.of("tracking number delivery", k=2))
    assert sorted(ids(result)) == ["delivery-time", "tracking"]
    everything = engine.search(Query.of("where is my tracking number", k=MAX_K))
    assert sorted(ids(everything)) == sorted(e.id for e in engine.index.entries)


@pytest.mark.parametrize("k", [1, 2, 5, 6, MAX_K])
def test_k_results_at_most(engine: Engine, k: int) -> None:
    result = engine.search(Query.of("How do I cancel my order?", k=k))
    assert len(result.hits) == min(k, len(engine.index.entries))
    assert len(set(ids(result))) == len(result.hits)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_category_filter(engine: Engine) -> None:
    shipping = engine.search(Query.of("How do I cancel my order?", k=5, category="shipping"))
    assert sorted(ids(shipping)) == ["delivery-time", "tracking"]
    order = engine.search(Query.of("How do I cancel my order?", k=5, category="order"))
    assert ids(order)[0] == "cancel-order"
    assert {h.entry.category for h in order.hits} == {"order"} and len(order.hits) == 3
    nothing = engine.search(Query.of("How do I cancel my order?", category="no-such-category"))
    assert (nothing.hits, nothing.decision, nothing.fallback) == ([], Decision.NO_ANSWER, FALLBACK["en"])


@pytest.mark.parametrize(("query", "lang"), [
    ("注文をキャンセルしたい", "ja"), ("ギフト包装", "ja"), ("How do I cancel my order?", "en"),
    ("Can I return an item?", "en"),
])
def test_results_in_the_query_language_or_the_only_one_an_entry_has(engine: Engine, query: str,
                                                                    lang: str) -> None:
    result = engine.search(Query.of(query, k=MAX_K))
    assert result.lang == lang
    shown = {h.entry.id: h.lang for h in result.hits}
    for entry_id in ("cancel-order", "delivery-time", "coupon-how-to"):
        assert shown[entry_id] == lang  # bilingual
    assert shown["returns"] == shown["tracking"] == "en"
    assert shown["gift-wrap"] == "ja"


def test_explicit_lang_overrides_detection(engine: Engine) -> None:
    result = engine.search(Query.of("注文をキャンセルしたい", lang="en"))
    assert result.lang == "en"
    assert result.hits[0].entry.id == "cancel-order" and result.hits[0].lang == "en"


def test_default_thresholds_answer_an_faq_question_and_not_small_talk(engine: Engine) -> None:
    assert engine.search(Query.of("How do I cancel my order?")).decision is Decision.ANSWER
    assert engine.search(Query.of("Which planet is the largest?")).decision is not Decision.ANSWER


def test_faq_without_alternates_answers_its_own_questions(
        tmp_path: Path, tiny_faq: list[dict[str, Any]],
        write_jsonl: Callable[[Path, list[Any]], Path]) -> None:
    questions_only = [{k: v for k, v in e.items() if k != "alternates"} for e in tiny_faq]
    engine = build_engine(write_jsonl(tmp_path / "faq.jsonl", questions_only), FakeEncoder(), cache_dir=None)
    for entry in engine.index.entries:
        for _, question in entry.phrasings():
            result = engine.search(Query.of(question))
            assert (result.hits[0].entry.id, result.decision) == (entry.id, Decision.ANSWER), question


# -- the decision -----------------------------------------------------------------------------

@pytest.mark.parametrize(("confidence", "candidates", "decision"), [
    (0.5, 3, Decision.ANSWER),  # at the answer threshold
    (0.9, 1, Decision.ANSWER),  # one candidate is enough to answer with
    (0.49, 3, Decision.CLARIFY),
    (0.2, 2, Decision.CLARIFY),  # at the clarify threshold
    (0.49, 1, Decision.NO_ANSWER),  # one candidate is no choice to offer
    (0.19, 3, Decision.NO_ANSWER),
    (0.0, 0, Decision.NO_ANSWER),  # nothing found
])
def test_decide(confidence: float, candidates: int, decision: Decision) -> None:
    assert decide(confidence, candidates, Thresholds(answer=0.5, clarify=0.2)) is decision


def test_decide_with_equal_thresholds_never_clarifies() -> None:
    thresholds = Thresholds(answer=0.4, clarify=0.4)
    assert [decide(c, 3, thresholds) for c in (0.39, 0.4)] == [Decision.NO_ANSWER, Decision.ANSWER]


@pytest.mark.parametrize(("thresholds", "k", "decision"), [
    (Thresholds(answer=0.0, clarify=0.0), 3, Decision.ANSWER),
    (Thresholds(answer=1.01, clarify=0.0), 3, Decision.CLARIFY),
    (Thresholds(answer=1.01, clarify=0.0), 1, Decision.NO_ANSWER),  # one result is nothing to choose from
    (Thresholds(answer=1.01, clarify=1.01), 3, Decision.NO_ANSWER),
])
def test_the_engine_decides_at_its_thresholds_and_shows_the_fallback_unless_answering(
        tiny_index: FaqIndex, thresholds: Thresholds, k: int, decision: Decision) -> None:
    engine = Engine(tiny_index, FakeEncoder(), thresholds, FALLBACK)
    results = engine.search_many(queries(QUERIES, k=k))
    assert {r.decision for r in results} == {decision}
    assert [r.fallback for r in results] == \
        [None if decision is Decision.ANSWER else FALLBACK[r.lang] for r in results]


def test_the_engine_decides_on_the_top_confidence_among_the_hits_it_returns(tiny_index: FaqIndex) -> None:
    # Between the thresholds, with the category leaving one hit or several.
    engine = Engine(tiny_index, FakeEncoder(), Thresholds(answer=1.01, clarify=0.0))
    assert engine.search(Query.of("How do I cancel my order?", category="payment")).decision is \
        Decision.NO_ANSWER  # coupon-how-to alone
    assert engine.search(Query.of("How do I cancel my order?", category="shipping")).decision is \
        Decision.CLARIFY


@pytest.mark.parametrize("text", ["How do I cancel my order?", "いつ届く", "Which planet is the largest?"])
def test_the_engine_answers_from_the_top_confidence_it_shows(tiny_index: FaqIndex, text: str) -> None:
    top = Engine(tiny_index, FakeEncoder()).search(Query.of(text)).hits[0].confidence
    at, above = Thresholds(answer=top, clarify=0.0), Thresholds(answer=float(np.nextafter(top, 2.0)), clarify=0.0)
    assert Engine(tiny_index, FakeEncoder(), at).search(Query.of(text)).decision is Decision.ANSWER
    assert Engine(tiny_index, FakeEncoder(), above).search(Query.of(text)).decision is Decision.CLARIFY


def test_thresholds_come_from_the_index_unless_given(tiny_index: FaqIndex) -> None:
    stored = tiny_index.manifest["thresholds"]
    assert Engine(tiny_index, FakeEncoder()).decision_thresholds == Thresholds(**stored)
    assert Engine(tiny_index, FakeEncoder(), Thresholds(0.9, 0.1)).decision_thresholds == Thresholds(0.9, 0.1)


def test_confidence_is_a_probability_non_increasing_down_the_list(engine: Engine) -> None:
    for result in engine.search_many(queries(QUERIES, k=MAX_K)):
        conf = [h.confidence for h in result.hits]
        assert all(0.0 <= c <= 1.0 for c in conf)
        assert conf == sorted(conf, reverse=True), result.query
    for result in engine.search_many(queries(QUERIES, k=MAX_K, category="order")):
        conf = [h.confidence for h in result.hits]
        assert conf == sorted(conf, reverse=True), result.query


# -- across languages -------------------------------------------------------------------------

def constant(p: float) -> Calibrator:
    """A calibrator that says `p` whatever the signals."""
    n = len(FEATURES)
    return Calibrator((0.0,) * n, (1.0,) * n, (0.0,) * n, math.log(p / (1 - p)))


def test_an_english_only_faq_gets_a_classifier_and_a_calibration_across_languages(english_index: FaqIndex) -> None:
    assert english_index.classifier is not None
    assert english_index.phrase_langs == {"en"}
    assert english_index.manifest["calibration_across_languages"] is not None
    assert english_index.calibrator_across != english_index.calibrator
    assert set(english_index.vectors.centroids) == {"ja", "en"}


@pytest.mark.parametrize(("text", "lang", "across"), [
    ("注文をキャンセルしたい", None, True), ("注文をキャンセルしたい", "en", True),  # written in Japanese
    ("cancel my order", None, False), ("cancel my order", "ja", False),
])
def test_a_question_in_a_language_the_faq_lacks_is_moved_into_it_and_judged_without_lexical_evidence(
        english_index: FaqIndex, text: str, lang: str | None, across: bool) -> None:
    # Distinguishable calibrators show which path ran.
    index = replace(english_index, calibrator=constant(0.3), calibrator_across=constant(0.7))
    engine = Engine(index, FakeEncoder(), cache_size=0)
    query = Query.of(text, k=MAX_K, lang=lang)
    vec = engine.encode([query])[0]
    moved = index.in_faq_language(vec[None, :], [query.written])[0]
    assert (np.linalg.norm(moved - vec) > 1e-3) == across
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-5)
    want = rank(index, moved, query.searched, engine.params)
    if across:
        want = want.across_languages().rescored(engine.params)
        assert not want.lexical.any() and want.known == 0.0 and want.off_topic == 0.0

    result = engine.answer(query, vec)

    assert [(h.entry.id, h.score) for h in result.hits] == \
        [(index.entries[int(want.entries[j])].id, pytest.approx(float(want.score[j]))) for j in want.order()]
    assert [h.confidence for h in result.hits] == pytest.approx([0.7 if across else 0.3] * len(result.hits))


def test_an_faq_in_both_languages_moves_no_question(english_index: FaqIndex) -> None:
    both = replace(english_index)
    both.phrase_langs = frozenset({"en", "ja"})
    vecs = np.eye(3, english_index.vectors.phrases.shape[1], dtype=np.float32)
    assert np.array_equal(both.in_faq_language(vecs, ["ja", "en", "ja"]), vecs)


# -- batches, exclusions, the cache -----------------------------------------------------------

def test_search_many_matches_single_searches_with_one_encoder_call(
        tiny_index: FaqIndex, engine: Engine, counting_encoder: Any) -> None:
    batched = Engine(tiny_index, counting_encoder).search_many(queries(QUERIES))
    assert counting_encoder.calls == 1
    for text, result in zip(QUERIES, batched, strict=True):
        single = engine.search(Query.of(text))
        assert result.query == text
        assert [(h.entry.id, h.confidence) for h in result.hits] == \
            [(h.entry.id, h.confidence) for h in single.hits]


def test_encode_then_answer_is_search_and_fills_the_cache(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    asked = queries(["送料はいくら", "How can I pay?", "返品したい"], k=2, lang="en")
    want = Engine(tiny_index, FakeEncoder(), cache_size=0).search_many(asked)
    engine = Engine(tiny_index, counting_encoder, cache_size=16)
    got = [engine.answer(q, vec) for q, vec in zip(asked, engine.encode(asked), strict=True)]
    assert counting_encoder.calls == 1
    assert [(r.query, r.lang, r.decision, ids(r), [h.confidence for h in r.hits]) for r in got] == \
        [(r.query, r.lang, r.decision, ids(r), [h.confidence for h in r.hits]) for r in want]
    hit = engine.cached(Query.of("how can i pay?", k=2, lang="en"))
    assert hit is not None and hit.query == "how can i pay?" and ids(hit) == ids(got[1])
    engine.search_many(asked)
    assert counting_encoder.calls == 1  # all three from the cache


def test_search_many_exclude_hides_entries_per_query(engine: Engine) -> None:
    hidden, shown = engine.search_many(queries(["How do I cancel my order?"] * 2, k=MAX_K),
                                       exclude=[["cancel-order", "returns", "not-an-id"], []])
    assert ids(shown)[0] == "cancel-order"
    assert set(ids(shown)) - set(ids(hidden)) == {"cancel-order", "returns"}
    assert len(hidden.hits) == len(engine.index.entries) - 2


def test_excluding_every_entry_means_no_answer(engine: Engine) -> None:
    every_id = [e.id for e in engine.index.entries]
    (result,) = engine.search_many([Query.of("How do I cancel my order?")], exclude=[every_id])
    assert (result.hits, result.decision) == ([], Decision.NO_ANSWER)


def test_cache_serves_other_spellings_of_the_same_query(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    engine = Engine(tiny_index, counting_encoder)
    first = engine.search(Query.of("How do I cancel my order?"))
    again = engine.search(Query.of("  ＨＯＷ  do I\tcancel my ORDER？ "))
    assert counting_encoder.calls == 1
    assert again.query == "  ＨＯＷ  do I\tcancel my ORDER？ "  # the caller's spelling, not the cached one
    assert [(h.entry.id, h.confidence, h.matched) for h in again.hits] == \
        [(h.entry.id, h.confidence, h.matched) for h in first.hits]
    engine.search(Query.of("How do I cancel my order?", k=2))  # k is part of the key
    engine.search(Query.of("How do I cancel my order?", category="order"))  # so is the category
    assert counting_encoder.calls == 3


def test_cached_sees_only_what_search_stored(tiny_index: FaqIndex) -> None:
    engine = Engine(tiny_index, FakeEncoder(), cache_size=16)
    assert engine.cached(Query.of("how can i pay", lang="en")) is None
    result = engine.search(Query.of("how can i pay", lang="en"))
    hit = engine.cached(Query.of("How can I pay", lang="en"))
    assert hit is not None and hit.query == "How can I pay" and ids(hit) == ids(result)
    assert engine.cached(Query.of("how can i pay", lang="ja")) is None
    assert engine.cached(Query.of("how can i pay", lang="en", category="shipping")) is None
    engine.search_many([Query.of("coupon")], exclude=[["coupon-how-to"]])
    assert engine.cached(Query.of("coupon")) is None  # asked with an entry hidden: another question


def test_cache_is_a_bounded_lru(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    engine = Engine(tiny_index, counting_encoder, cache_size=2)

    def encoded(text: str) -> bool:
        before = counting_encoder.calls
        engine.search(Query.of(text))
        return counting_encoder.calls > before

    assert [encoded(q) for q in ("coupon", "return policy", "delivery time")] == [True, True, True]
    assert encoded("delivery time") is False
    assert encoded("return policy") is False  # now the most recently used
    assert encoded("coupon") is True  # evicted when the third query came in; evicts "delivery time"
    assert encoded("return policy") is False
    assert encoded("delivery time") is True


def test_cache_can_be_disabled(tiny_index: FaqIndex, counting_encoder: Any) -> None:
    engine = Engine(tiny_index, counting_encoder, cache_size=0)
    engine.search(Query.of("coupon"))
    engine.search(Query.of("coupon"))
    assert counting_encoder.calls == 2


@pytest.mark.parametrize(("text", "k"), [("x" * MAX_QUERY_CHARS, 1), ("c", MAX_K)])
def test_queries_at_the_limits_are_answered(engine: Engine, text: str, k: int) -> None:
    assert engine.search(Query.of(text, k=k)).hits


def test_a_question_across_languages_naming_an_unwritten_service_is_not_answered(english_index: FaqIndex) -> None:
    index = replace(english_index, calibrator_across=constant(0.99))
    engine = Engine(index, FakeEncoder(), cache_size=0)
    assert engine.search(Query.of("注文をキャンセルしたい", k=3)).decision is Decision.ANSWER
    assert engine.search(Query.of("Spotifyの注文をキャンセルしたい", k=3)).decision is Decision.CLARIFY
    assert Engine(index, FakeEncoder(), cache_size=0, limit_unwritten_names=False).search(
        Query.of("Spotifyの注文をキャンセルしたい", k=3)).decision is Decision.ANSWER
