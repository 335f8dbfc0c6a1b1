"""`ranking.rank` over the tiny fake-encoder index: the classifier column, hidden entries, the
known-words share, and both ways of choosing candidates."""

from __future__ import annotations

import numpy as np
import pytest

from aurora_faq import ranking
from aurora_faq.encoders import FakeEncoder
from aurora_faq.index import FaqIndex
from aurora_faq.ranking import Ranking, RetrievalParams, _row_dots, rank
from aurora_faq.text import normalize

PARAMS = RetrievalParams(answer_weight=0.3, lexical_weight=0.1, classifier_weight=0.2)


@pytest.fixture(params=["every entry", "candidates"])
def scoring(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Rank as a small FAQ does (every entry scored) and as a large one does (only candidates)."""
    if request.param == "candidates":
        monkeypatch.setattr(ranking, "CANDIDATE_ROWS", 4)  # the tiny index has far more rows
    return str(request.param)


def vector(text: str) -> np.ndarray:
    vec: np.ndarray = FakeEncoder().encode_queries([normalize(text)])[0]
    return vec


def test_the_classifier_column_is_its_probability_of_each_entry(tiny_index: FaqIndex, scoring: str) -> None:
    assert tiny_index.classifier is not None
    qvec = vector("How do I cancel my order?")
    r = rank(tiny_index, qvec, normalize("How do I cancel my order?"), PARAMS)
    np.testing.assert_allclose(r.clf, tiny_index.classifier.proba(qvec)[r.entries], rtol=1e-5)


@pytest.mark.parametrize("given", [False, True], ids=["served classifier", "given probabilities"])
def test_hiding_entries_spreads_their_classifier_probability_over_the_rest(
        tiny_index: FaqIndex, scoring: str, given: bool) -> None:
    # As a classifier fitted without them would: the same logits, a softmax over fewer classes.
    assert tiny_index.classifier is not None
    text = "How do I cancel my order?"
    qvec = vector(text)
    proba = tiny_index.classifier.proba(qvec)
    if given:  # tuning passes out-of-fold predictions instead
        proba = np.roll(proba, 1) * 0.5 + 0.5 / len(proba)
    hidden = np.array([tiny_index.by_id["cancel-order"], tiny_index.by_id["returns"]])
    mass = float(proba[hidden].sum())
    assert mass > 0.1  # enough to tell renormalized from not

    r = rank(tiny_index, qvec, normalize(text), PARAMS, exclude_entries=hidden,
             clf_proba=proba if given else None)

    assert not set(r.entries.tolist()) & set(hidden.tolist())
    np.testing.assert_allclose(r.clf, proba[r.entries] / (1 - mass), rtol=1e-5)
    np.testing.assert_allclose(r.score, PARAMS.combine(r.phrase, r.answer, r.lexical, r.clf), rtol=1e-6)


def test_hiding_every_entry_leaves_an_empty_ranking(tiny_index: FaqIndex, scoring: str) -> None:
    every = np.arange(len(tiny_index.entries))
    r = rank(tiny_index, vector("coupon"), "coupon", PARAMS, exclude_entries=every)
    assert len(r.entries) == len(r.score) == len(r.clf) == 0


def test_known_share_counts_only_the_words_of_visible_entries(tiny_index: FaqIndex, scoring: str) -> None:
    # "ラッピング" is gift-wrap's word alone; "coupon" is in coupon-how-to's phrasings and answer.
    wrap = rank(tiny_index, vector("ラッピング"), "ラッピング", PARAMS)
    assert wrap.known == 1.0
    gift = np.array([tiny_index.by_id["gift-wrap"]])
    assert rank(tiny_index, vector("ラッピング"), "ラッピング", PARAMS, exclude_entries=gift).known == 0.0
    # Hiding one phrasing of an entry leaves its other phrasings and its answer.
    row = int(tiny_index.phrase_start[tiny_index.by_id["coupon-how-to"]])
    assert rank(tiny_index, vector("coupon"), "coupon", PARAMS, exclude_rows=np.array([row])).known == 1.0
    assert rank(tiny_index, vector("weather forecast"), "weather forecast", PARAMS).known == 0.0


def test_both_ways_of_choosing_candidates_agree_on_a_small_faq(tiny_index: FaqIndex,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for text in ["How do I cancel my order?", "ラッピング", "tracking number delivery", "配送"]:
        every = rank(tiny_index, vector(text), normalize(text), PARAMS)
        monkeypatch.setattr(ranking, "CANDIDATE_ROWS", 4)
        some = rank(tiny_index, vector(text), normalize(text), PARAMS)
        monkeypatch.undo()
        # The candidates' scores are exact: where they are scored, they match.
        where = np.searchsorted(every.entries, some.entries)
        np.testing.assert_allclose(some.score, every.score[where], rtol=1e-5)
        assert some.entries[some.order()[0]] == every.entries[every.order()[0]], text


def test_rescored_changes_only_the_score() -> None:
    r = Ranking(entries=np.arange(2), score=np.zeros(2, np.float32), phrase=np.array([0.8, 0.6], np.float32),
                answer=np.array([0.2, 0.9], np.float32), lexical=np.array([1.0, 0.0], np.float32),
                clf=np.array([0.3, 0.7], np.float32), best_row=np.arange(2), agree=np.zeros(2, np.float32),
                query_chars=5, known=0.5, background=0.1)
    again = r.rescored(PARAMS)
    np.testing.assert_allclose(again.score, [0.7 * 0.8 + 0.3 * 0.2 + 0.1 + 0.2 * 0.3,
                                             0.7 * 0.6 + 0.3 * 0.9 + 0.2 * 0.7], rtol=1e-6)
    assert (again.phrase is r.phrase, again.known, again.background) == (True, 0.5, 0.1)
    assert not r.score.any()  # the original is left as it was


def test_row_dots_read_in_place_match_numpy() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 64)).astype(np.float32)
    rows = np.sort(rng.choice(500, 40, replace=False))
    query = rng.standard_normal(64).astype(np.float32)
    assert np.allclose(_row_dots(vecs, rows, query), vecs[rows] @ query, atol=1e-5)
    # Matrices faiss cannot read in place take numpy's way, with the same result.
    assert np.allclose(_row_dots(np.asfortranarray(vecs), rows, query), vecs[rows] @ query, atol=1e-5)
    assert np.allclose(_row_dots(vecs.astype(np.float64), rows, query), vecs[rows] @ query, atol=1e-5)
