"""Calibrated confidence: P(this result is the right answer) from retrieval signals.

A logistic regression over a few per-candidate signals, fitted at build time (tuning.py) on
pseudo-queries made from the FAQ's own alternates (each asked with itself hidden, and again
with its whole entry hidden, where any answer is wrong), plus labelled queries when given.
Applying it needs only numpy: the fitted numbers live in the index manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import IndexFormatError

FEATURES = ("margin", "phrase", "phrase_margin", "answer", "lexical", "clf", "agree", "log_chars",
            "known_words", "background", "over_background", "margin*background", "clf*background",
            "margin*over_background", "clf*over_background", "answer_margin", "lexical_margin", "crowd",
            "off_topic", "clf*off_topic", "unknown_name", "clf*unknown_name")


# Candidates scoring within this of the best count as crowding it (the "crowd" feature).
CROWD_WINDOW = 0.03


class Signals(Protocol):
    """What `features` reads of a ranking (`ranking.Ranking`): arrays aligned by candidate."""

    score: np.ndarray
    phrase: np.ndarray
    answer: np.ndarray
    lexical: np.ndarray
    clf: np.ndarray
    agree: np.ndarray
    query_chars: int
    known: float
    background: float
    off_topic: float
    unknown_names: int


def features(r: Signals) -> np.ndarray:
    """One row per candidate, one column per name in FEATURES: the fused score's, the best
    phrasing's, the answer's and BM25's lead over the best *other* candidate (positive only for
    the leader), the score components, agreement of the nearest phrasings, query length, how much
    of the query's vocabulary the FAQ uses, how close the query is to known off-topic questions,
    alone and against the best phrasing (a softmax classifier is confidently wrong off topic;
    this is what tells it apart), and how many candidates crowd the best score (a question
    several entries answer about as well is one whose best entry is often not the right one).

    The products let closeness to off-topic questions discount a large lead or a confident
    classifier, which a sum of terms cannot do.
    """
    n = len(r.score)
    comps = np.stack([r.score, r.phrase, r.answer, r.lexical]).astype(np.float64)
    leads = _gap(comps)
    clf = r.clf.astype(np.float64)
    over_background = comps[1] - r.background
    cols: dict[str, Any] = {
        "margin": leads[0], "phrase": comps[1], "phrase_margin": leads[1], "answer": comps[2],
        "lexical": comps[3], "clf": clf, "agree": r.agree, "log_chars": np.log1p(r.query_chars),
        "known_words": r.known, "background": r.background, "over_background": over_background,
        "margin*background": leads[0] * r.background, "clf*background": clf * r.background,
        "margin*over_background": leads[0] * over_background, "clf*over_background": clf * over_background,
        "answer_margin": leads[2], "lexical_margin": leads[3],
        "crowd": np.log1p(np.count_nonzero(r.score >= r.score.max() - CROWD_WINDOW)) if n else 0.0,
        "off_topic": _logit(r.off_topic), "clf*off_topic": clf * r.off_topic,
        "unknown_name": float(r.unknown_names > 0), "clf*unknown_name": clf * (r.unknown_names > 0),
    }
    x = np.empty((n, len(FEATURES)))
    for j, name in enumerate(FEATURES):
        x[:, j] = cols[name]
    return x


def _logit(p: float) -> float:
    """log-odds, bounded: a detector's 0.98 and 0.999 say different things, as 0.5 and 0.52 do not."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _gap(x: np.ndarray) -> np.ndarray:
    """Each value minus the best of the others (along the last axis): positive only for the leader."""
    if x.shape[-1] < 2:
        return np.zeros_like(x)
    top2 = np.partition(x, x.shape[-1] - 2, axis=-1)[..., -2:]
    second, best = top2[..., :1], top2[..., 1:]
    out: np.ndarray = x - np.where(x >= best, second, best)
    return out


@dataclass(frozen=True)
class Calibrator:
    """A logistic regression over FEATURES, standardized: what the manifest stores."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def from_manifest(cls, raw: Mapping[str, Any] | None, path: Path | str = "") -> Calibrator:
        """The calibrator a manifest stored (None: the fixed `fallback`).

        Raises:
            IndexFormatError: it was fitted on another feature list than this version computes;
                its coefficients would weigh the wrong signals.
        """
        if raw is None:
            return cls.fallback()
        stored = tuple(raw.get("features", ()))
        if stored != FEATURES:
            missing, extra = set(FEATURES) - set(stored), set(stored) - set(FEATURES)
            detail = f"missing {sorted(missing)}, unknown {sorted(extra)}" if missing or extra else "in another order"
            raise IndexFormatError(path, f"index at {path} was calibrated on other features than this version "
                                         f"computes ({detail})")
        return cls(tuple(raw["mean"]), tuple(raw["scale"]), tuple(raw["coef"]), float(raw["intercept"]))

    @classmethod
    def fallback(cls) -> Calibrator:
        """For an FAQ with nothing to fit on (no alternates): a fixed logistic on the best
        phrasing's cosine and the lead over the runner-up, centred where e5+use paraphrases
        sit. Its figures are not calibrated; `scripts/evaluate.py` shows how far off they are."""
        coef = dict.fromkeys(FEATURES, 0.0) | {"phrase": 25.0, "margin": 40.0}
        return cls((0.0,) * len(FEATURES), (1.0,) * len(FEATURES), tuple(coef.values()), -25.0 * 0.85)

    def to_manifest(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @cached_property
    def _linear(self) -> tuple[np.ndarray, float]:
        """The standardization folded into the coefficients: one product a prediction."""
        coef = np.asarray(self.coef) / np.asarray(self.scale)
        return coef, self.intercept - float(coef @ np.asarray(self.mean))

    def predict(self, x: np.ndarray) -> np.ndarray:
        coef, intercept = self._linear
        z = np.clip(x @ coef + intercept, -40, 40)
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p


def fit_calibrator(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Calibrator:
    """Fit P(correct | signals) by L2-regularized logistic regression (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression  # build time only

    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = np.where(std > 1e-9, std, 1.0)
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit((x - mean) / scale, y, sample_weight=weight)
    return Calibrator(tuple(map(float, mean)), tuple(map(float, scale)),
                      tuple(map(float, model.coef_[0])), float(model.intercept_[0]))


def confidence_bin(conf: np.ndarray, bins: int = 10) -> np.ndarray:
    """Equal-width bin of each confidence; 1.0 falls in the last bin."""
    out: np.ndarray = np.clip((np.asarray(conf, float) * bins).astype(int), 0, bins - 1)
    return out


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the confidence-weighted gap between stated confidence and observed accuracy."""
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    if not len(conf):
        return 0.0
    which = confidence_bin(conf, bins)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)
