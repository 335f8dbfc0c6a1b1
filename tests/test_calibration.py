"""Confidence calibration: the logistic calibrator, its features, its fitting, ECE, and the
default decision thresholds chosen on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from aurora_faq.calibration import FEATURES, Calibrator, expected_calibration_error, features, fit_calibrator
from aurora_faq.engine import Thresholds
from aurora_faq.errors import IndexFormatError
from aurora_faq.evaluation import auroc
from aurora_faq.examples import Example
from aurora_faq.ranking import Ranking, RetrievalParams
from aurora_faq.tuning import (
    ANSWER_THRESHOLD_RANGE,
    CLARIFY_SHARE,
    FALLBACK_THRESHOLDS,
    MIN_UNANSWERABLE,
    NEAR_MISS_REFUSED,
    OFF_TOPIC_REFUSED,
    calibration_rows,
    choose_thresholds,
    fit_params,
)

N = len(FEATURES)


def separable(feature: int, seed: int = 7, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label is exactly `x[:, feature] > 0.6`; every other feature is noise."""
    x = np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, N))
    return x, (x[:, feature] > 0.6).astype(int)


@pytest.fixture(scope="module")
def fitted() -> Calibrator:
    return fit_calibrator(*separable(0))


def test_uncalibrated_index_uses_a_fixed_logistic_on_phrase_and_margin() -> None:
    default = Calibrator.from_manifest(None)
    assert default == Calibrator.fallback()
    x = np.random.default_rng(0).uniform(size=(4, N))  # the other features are ignored
    phrase, margin = FEATURES.index("phrase"), FEATURES.index("margin")
    x[:, phrase] = [0.85, 0.95, 0.70, 0.85]
    x[:, margin] = [0.0, 0.0, 0.0, 0.05]
    p = default.predict(x)
    assert p[0] == pytest.approx(0.5)
    assert p[1] > p[0] > p[2]
    assert p[3] > p[0]


def test_manifest_round_trip(fitted: Calibrator) -> None:
    stored = fitted.to_manifest()
    assert stored["features"] == list(FEATURES)
    assert Calibrator.from_manifest(stored) == fitted


@pytest.mark.parametrize(("stored", "detail"), [
    (FEATURES[:-1], f"missing ['{FEATURES[-1]}'], unknown []"),
    ((*FEATURES, "new_signal"), "missing [], unknown ['new_signal']"),
    ((FEATURES[1], FEATURES[0], *FEATURES[2:]), "in another order"),
    ((), "missing"),  # a calibration stored before the list was
])
def test_a_calibration_fitted_on_other_features_is_refused(fitted: Calibrator, stored: tuple[str, ...],
                                                          detail: str) -> None:
    raw = {**fitted.to_manifest(), "features": list(stored)}
    if not stored:
        del raw["features"]
    with pytest.raises(IndexFormatError, match="calibrated on other features") as info:
        Calibrator.from_manifest(raw, "/srv/index")
    assert detail in str(info.value) and info.value.path == "/srv/index"


def test_predict_is_the_logistic_of_the_stored_standardized_coefficients(fitted: Calibrator) -> None:
    # The manifest stores mean, scale and coefficients apart; predict folds them into one
    # product, which must not change what they mean.
    x = np.random.default_rng(1).normal(size=(50, N))
    z = ((x - np.array(fitted.mean)) / np.array(fitted.scale)) @ np.array(fitted.coef) + fitted.intercept
    np.testing.assert_allclose(fitted.predict(x), 1 / (1 + np.exp(-z)), rtol=1e-9, atol=1e-12)


def test_predict_is_a_probability_even_for_extreme_inputs(fitted: Calibrator) -> None:
    x = np.vstack([np.full(N, 1e6), np.full(N, -1e6), np.zeros(N), np.random.default_rng(0).normal(size=N)])
    p = fitted.predict(x)  # filterwarnings=error: an overflow in exp would fail here
    assert ((0.0 <= p) & (p <= 1.0)).all()


@pytest.mark.parametrize("name", FEATURES)
def test_fit_on_separable_data_is_monotone_in_the_separating_feature(name: str) -> None:
    j = FEATURES.index(name)
    calibrator = fit_calibrator(*separable(j))
    assert calibrator.coef[j] > 0
    assert calibrator.coef[j] == max(calibrator.coef, key=abs)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = np.tile(rng.uniform(0, 1, size=N), (50, 1))  # other features fixed
        x[:, j] = np.linspace(0, 1, 50)
        p = calibrator.predict(x)
        assert ((0.0 <= p) & (p <= 1.0)).all()
        assert (np.diff(p) >= 0).all()
        assert p[-1] - p[0] > 0.5


def test_fit_recovers_the_ordering(fitted: Calibrator) -> None:
    x, y = separable(0)
    p = fitted.predict(x)
    assert p[y == 1].mean() > 0.8 > 0.2 > p[y == 0].mean()
    assert auroc(p[y == 1].tolist(), p[y == 0].tolist()) == pytest.approx(1.0, abs=0.01)
    unseen, truth = separable(0, seed=2, n=200)
    q = fitted.predict(unseen)
    assert auroc(q[truth == 1].tolist(), q[truth == 0].tolist()) > 0.99


def test_sample_weights_shift_the_fit() -> None:
    x, y = separable(0)
    noisy_y = y.copy()
    noisy_y[:40] = 1 - noisy_y[:40]  # some label noise so the fit is not saturated
    plain = fit_calibrator(x, noisy_y)
    heavy_negatives = fit_calibrator(x, noisy_y, np.where(noisy_y == 0, 5.0, 1.0))
    assert heavy_negatives.predict(x).mean() < plain.predict(x).mean()


def ranking(n: int = 3, **given: Any) -> Ranking:
    """An n-candidate Ranking; signals not given are zero (the class grows a field per new signal)."""
    zero = {"np.ndarray": np.zeros(n, np.float32), "int": 0, "float": 0.0}
    base = {"entries": np.arange(n), "best_row": np.arange(n), "query_chars": 10, "known": 1.0}
    return Ranking(**{f.name: given.get(f.name, base.get(f.name, zero[str(f.type).split(" ")[0]]))
                      for f in fields(Ranking)})


def test_features_margin_is_positive_only_for_the_top_candidate() -> None:
    r = ranking(score=np.array([0.9, 0.5, 0.7], np.float32), phrase=np.array([0.8, 0.4, 0.6], np.float32),
                agree=np.array([0.6, 0.1, 0.3], np.float32), query_chars=9)
    x = features(r)
    assert x.shape == (3, N)
    assert x[:, FEATURES.index("margin")] == pytest.approx([0.2, -0.4, -0.2], abs=1e-6)
    assert x[:, FEATURES.index("phrase")] == pytest.approx([0.8, 0.4, 0.6])
    assert x[:, FEATURES.index("agree")] == pytest.approx([0.6, 0.1, 0.3])
    assert x[:, FEATURES.index("log_chars")] == pytest.approx([np.log(10)] * 3)


def test_features_answer_and_lexical_leads_and_the_crowd_at_the_top() -> None:
    r = ranking(score=np.array([0.9, 0.88, 0.5], np.float32), answer=np.array([0.3, 0.7, 0.6], np.float32),
                lexical=np.array([0.5, 0.1, 0.2], np.float32))
    x = features(r)
    assert x[:, FEATURES.index("answer_margin")] == pytest.approx([-0.4, 0.1, -0.1], abs=1e-6)
    assert x[:, FEATURES.index("lexical_margin")] == pytest.approx([0.3, -0.4, -0.3], abs=1e-6)
    # Two candidates within CROWD_WINDOW of the best score (itself included), the same for every row.
    assert x[:, FEATURES.index("crowd")] == pytest.approx([np.log(3)] * 3)


def test_expected_calibration_error_by_hand() -> None:
    conf = np.array([0.95, 0.85, 0.15, 0.12])
    correct = np.array([1, 0, 0, 1])
    # bins [0.9,1): |0.95-1| * 1/4; [0.8,0.9): |0.85-0| * 1/4; [0.1,0.2): |0.135-0.5| * 2/4
    expected = 0.05 / 4 + 0.85 / 4 + 0.365 / 2
    assert expected_calibration_error(conf, correct) == pytest.approx(expected)
    assert expected_calibration_error(conf, correct, bins=1) == pytest.approx(abs(conf.mean() - 0.5))


def test_expected_calibration_error_edges() -> None:
    assert expected_calibration_error(np.array([1.0, 0.0, 1.0]), np.array([1, 0, 1])) == 0.0
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([0, 0])) == pytest.approx(1.0)


def _top_only(phrase: float) -> Ranking:
    """A one-candidate ranking whose best phrasing cosine is `phrase`."""
    one = np.array([phrase], np.float32)
    return ranking(1, score=one, phrase=one)


def _unanswerable(near: Sequence[float], off: Sequence[float]) -> tuple[list[Example], np.ndarray]:
    """Near misses and off-topic examples with these top confidences."""
    examples = ([Example(_top_only(0.5), frozenset(), near_miss=True) for _ in near]
                + [Example(_top_only(0.5), frozenset()) for _ in off])
    return examples, np.array([*near, *off], float)


def test_default_thresholds_refuse_the_set_shares_of_build_time_unanswerables() -> None:
    near, off = np.linspace(0.0, 1.0, 61), np.linspace(0.0, 0.6, 61)
    examples, conf = _unanswerable(near, off)
    # Answerable examples set no bound, and an empty ranking (NaN) counts for nothing.
    examples += [Example(_top_only(0.9), frozenset({0})), Example(_top_only(0.9), frozenset(), near_miss=True)]
    conf = np.append(conf, [0.05, np.nan])
    got = choose_thresholds(examples, conf)
    want = max(np.quantile(near, NEAR_MISS_REFUSED), np.quantile(off, OFF_TOPIC_REFUSED))
    assert got["answer"] == pytest.approx(want, abs=1e-3)
    assert got["clarify"] == pytest.approx(CLARIFY_SHARE * got["answer"], abs=1e-3)
    assert np.mean(near < got["answer"]) >= NEAR_MISS_REFUSED - 0.02
    assert np.mean(off < got["answer"]) >= OFF_TOPIC_REFUSED - 0.02
    # Off-topic questions as confident as the near misses: they set the bound instead.
    more, more_conf = _unanswerable([], np.linspace(0.4, 1.0, 200))
    assert choose_thresholds(examples + more, np.append(conf, more_conf))["answer"] > got["answer"]


def test_default_answer_threshold_stays_within_its_range() -> None:
    low, high = ANSWER_THRESHOLD_RANGE
    easy = _unanswerable(np.full(50, 0.001), np.full(50, 0.002))  # what the shares alone would take
    assert choose_thresholds(*easy)["answer"] == low
    hard = _unanswerable(np.full(50, 0.99), np.full(50, 0.99))
    assert choose_thresholds(*hard)["answer"] == high


def test_default_thresholds_fall_back_without_enough_of_either_unanswerable_kind() -> None:
    enough = np.linspace(0, 1, MIN_UNANSWERABLE)
    assert choose_thresholds(*_unanswerable(enough, enough)) != FALLBACK_THRESHOLDS
    assert choose_thresholds(*_unanswerable(enough, enough[1:])) == FALLBACK_THRESHOLDS
    assert choose_thresholds(*_unanswerable(enough[1:], enough)) == FALLBACK_THRESHOLDS
    examples, conf = _unanswerable(enough, enough)
    assert choose_thresholds(examples, np.full_like(conf, np.nan)) == FALLBACK_THRESHOLDS  # nothing calibrated


def test_calibration_rows_start_each_example_at_its_best_candidate() -> None:
    r = ranking(phrase=np.array([0.2, 0.9, 0.5], np.float32))
    empty = ranking(0, query_chars=5, known=0.0)
    x, y, w, first = calibration_rows([Example(r, frozenset({1})), Example(empty, frozenset()),
                                       Example(r, frozenset())],
                                      RetrievalParams(answer_weight=0.0, lexical_weight=0.0, classifier_weight=0.0))
    assert first.tolist() == [0, -1, 3]
    assert x[first[[0, 2]], FEATURES.index("phrase")] == pytest.approx([0.9, 0.9])
    assert y.tolist() == [1, 0, 0, 0, 0, 0]  # entry 1 is gold for the first example only
    assert len(w) == 6


def test_thresholds_come_from_the_manifest_unless_given() -> None:
    stored = {"answer": 0.31, "clarify": 0.12}
    assert Thresholds.from_manifest(stored) == Thresholds(answer=0.31, clarify=0.12)
    assert Thresholds.from_manifest(stored, answer=0.7) == Thresholds(answer=0.7, clarify=0.12)
    assert Thresholds.from_manifest(stored, clarify=0.5) == Thresholds(answer=0.31, clarify=0.31)  # never above
    assert Thresholds.from_manifest(stored, answer=0.1) == Thresholds(answer=0.1, clarify=0.1)


def _two_candidates(gold_answer: float) -> Example:
    """Entry 0 (gold) matches by its answer, entry 1 by its phrasing."""
    r = ranking(2, phrase=np.array([0.5, 0.8], np.float32), answer=np.array([gold_answer, 0.2], np.float32))
    return Example(r, frozenset({0}))


def test_answer_weight_is_fitted_and_capped_where_only_candidates_are_scored() -> None:
    # The gold entry wins only when answers weigh most: (1-a)*0.5 + a*0.45 > (1-a)*0.8 + a*0.2
    # holds for a > 0.545, so from 0.6 on the grid.
    examples = [_two_candidates(0.45)] * 30
    free, _ = fit_params(examples, RetrievalParams(), with_classifier=False)
    capped, _ = fit_params(examples, RetrievalParams(), with_classifier=False, max_answer_weight=0.5)
    assert free.answer_weight > 0.5
    assert capped.answer_weight <= 0.5
