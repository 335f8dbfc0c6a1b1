"""Build-time fitting on the FAQ itself: entry classifier, fusion weights, confidence
calibration and decision thresholds, from the examples of `examples.py`.

The entry classifier is fitted on every phrasing except the pseudo-queries, so the weights and
the calibration fitted on them are honest.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .calibration import Calibrator, features, fit_calibrator
from .classifier import fit_entry_classifier, fit_off_topic, worth_fitting
from .engine import Thresholds
from .examples import Example, OffTopicHeldOut, pseudo_queries, self_examples
from .index import FaqIndex
from .ranking import RetrievalParams, candidates_only

logger = logging.getLogger(__name__)

PSEUDO_SHARE = 0.2  # large FAQs: at most this share of the alternates is held out
KFOLD_MAX_PHRASINGS = 3000  # up to this size, K-fold cross-fitting instead of a hold-out
KFOLDS = 5
# Up to 0.7: answer-rich FAQs rank best leaning on the answers (LocalGovFAQ picked 0.6-0.7:
# SR@1 .570 against .562 with the grid stopping at 0.5; xSID .932 against .919).
ANSWER_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
# Where only some entries are scored (`ranking.candidates_only`), the candidates are the owners of
# the closest phrasings: an entry close by its answer alone is never scored, so the answers may
# not outweigh the phrasings.
CANDIDATE_MAX_ANSWER_WEIGHT = 0.5
LEXICAL_WEIGHTS = (0.0, 0.05, 0.1, 0.2)
CLASSIFIER_WEIGHTS = (0.0, 0.15, 0.3, 0.6)
CALIBRATION_DEPTH = 3  # candidates per query used as calibration examples
# The share of answerable questions the calibration assumes, as in a shop's real traffic
# (the labelled AuroraBoutique set has 78 %). Unanswerable examples are weighted to match it.
IN_SCOPE_PRIOR = 0.75
OFF_TOPIC_SHARE = 0.7  # of the unanswerable weight: off-topic background vs gold-out near misses
# The default answer threshold (see `choose_thresholds`): the lowest confidence that refuses
# these shares of the build-time unanswerable examples.
NEAR_MISS_REFUSED = 0.75
OFF_TOPIC_REFUSED = 0.9
MIN_UNANSWERABLE = 30  # fewer examples of either kind: the fixed FALLBACK_THRESHOLDS
FALLBACK_THRESHOLDS = asdict(Thresholds())  # 0.5 / 0.2
CLARIFY_SHARE = 0.4  # the clarify threshold as a share of the answer threshold
# Whatever the shares ask, the answer threshold stays within these. Build-time unanswerable
# examples that the calibration separates easily would otherwise set it near zero (a synthetic
# 100,000-entry FAQ got 0.006), and real out-of-scope traffic is not that easy: below 0.2 an
# answer is four times likelier wrong than right.
ANSWER_THRESHOLD_RANGE = (0.2, 0.8)


def _mrr_grid(examples: Sequence[Example], grid: Sequence[RetrievalParams]) -> np.ndarray:
    """MRR of every parameter set in `grid` at once (a candidate tied with the gold ranks below it)."""
    # combine() is linear in the components: one (candidates × 4) @ (4 × grid) product per example.
    coef = np.array([[1 - p.answer_weight, p.answer_weight, p.lexical_weight, p.classifier_weight]
                     for p in grid]).T
    total = np.zeros(len(grid))
    for ex in examples:
        r = ex.ranking
        gold = np.isin(r.entries, list(ex.gold))
        if not gold.any():
            continue
        comps = np.column_stack([r.phrase, r.answer, r.lexical, r.clf])
        # The weights are non-negative: a candidate no better than some gold entry in every
        # component never outranks it. Only the others (a few of thousands) need scoring.
        rivals = comps[~gold]
        dominated = np.zeros(len(rivals), bool)
        for g in comps[gold]:
            dominated |= (rivals <= g).all(axis=1)
        best_gold = (comps[gold] @ coef).max(axis=0)
        total += 1.0 / (1 + ((rivals[~dominated] @ coef) > best_gold).sum(axis=0))
    out: np.ndarray = total / max(len(examples), 1)
    return out


def fit_params(examples: Sequence[Example], default: RetrievalParams,
               with_classifier: bool, max_answer_weight: float = 1.0) -> tuple[RetrievalParams, float]:
    """Grid search of the fusion weights by MRR on the in-scope examples."""
    positives = [ex for ex in examples if ex.gold]
    if len(positives) < 20:
        return default, float("nan")
    clf_weights = CLASSIFIER_WEIGHTS if with_classifier else (0.0,)
    answer_weights = [a for a in ANSWER_WEIGHTS if a <= max_answer_weight]
    grid = [RetrievalParams(a, lw, c)
            for a, lw, c in itertools.product(answer_weights, LEXICAL_WEIGHTS, clf_weights)]
    mrr = _mrr_grid(positives, grid)
    best = int(np.argmax(mrr))  # the first of equals: the grid lists lighter weights first
    return grid[best], float(mrr[best])


def _balance(examples: list[Example]) -> list[Example]:
    """Weight examples so answerable ones carry IN_SCOPE_PRIOR of the total; the two kinds of
    unanswerable ones (near misses with their entry hidden, off-topic) share the rest."""
    pos = [ex for ex in examples if ex.gold]
    gold_out = [ex for ex in examples if not ex.gold and ex.near_miss]
    off = [ex for ex in examples if not ex.gold and not ex.near_miss]
    if not pos:
        return examples
    neg_total = sum(ex.weight for ex in pos) * (1 - IN_SCOPE_PRIOR) / IN_SCOPE_PRIOR
    shares = {id(gold_out): 1 - OFF_TOPIC_SHARE, id(off): OFF_TOPIC_SHARE}
    groups = [g for g in (gold_out, off) if g]
    for g in groups:
        share = shares[id(g)] if len(groups) == 2 else 1.0
        for ex in g:
            ex.weight = neg_total * share / len(g)
    return examples


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, best first (no full sort: tuning ranks whole FAQs)."""
    if len(score) > k:
        part = np.argpartition(-score, k)[:k]
        out: np.ndarray = part[np.argsort(-score[part], kind="stable")]
        return out
    return np.argsort(-score, kind="stable")


def calibration_rows(examples: Sequence[Example], p: RetrievalParams
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and weights of each example's CALIBRATION_DEPTH best candidates under
    `p`, best first, and where each example's best row is (-1 for an empty ranking)."""
    xs, ys, ws, first = [], [], [], []
    rows = 0
    for ex in examples:
        r = ex.ranking.rescored(p)
        top = _top(r.score, CALIBRATION_DEPTH)
        xs.append(features(r)[top])
        ys.append(np.fromiter((int(e) in ex.gold for e in r.entries[top]), int, len(top)))
        ws.append(np.full(len(top), ex.weight))
        first.append(rows if len(top) else -1)
        rows += len(top)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.array(first, np.int64)


def fit_classifier(index: FaqIndex) -> tuple[list[int], dict[int, np.ndarray] | None]:
    """Choose pseudo-query rows and fit `index.classifier` when the FAQ is worth it.

    Small FAQs: every usable alternate is a pseudo-query, scored by a classifier from the
    K-fold that did not see it (`oof`); the served classifier sees everything. Large FAQs: a
    held-out sample, never seen by the classifier used for tuning (`oof` is None); call
    `refit_classifier` after tuning so the served one learns from the sample too.
    """
    n = len(index.vectors.phrases)
    rows = pseudo_queries(index, share=1.0 if n <= KFOLD_MAX_PHRASINGS else PSEUDO_SHARE)
    if not worth_fitting(len(index.entries), n):
        return rows, None
    if n > KFOLD_MAX_PHRASINGS:
        train = np.setdiff1d(np.arange(n), rows)
        index.classifier = fit_entry_classifier(index.vectors.phrases[train], index.vectors.phrase_entry[train],
                                                len(index.entries))
        return rows, None
    oof: dict[int, np.ndarray] = {}
    vecs, labels = index.vectors.phrases, index.vectors.phrase_entry
    for fold in np.array_split(np.random.default_rng(1).permutation(rows), KFOLDS):
        train = np.setdiff1d(np.arange(n), fold)
        model = fit_entry_classifier(vecs[train], labels[train], len(index.entries))
        oof.update({int(r): model.proba(index.vectors.phrases[r]) for r in fold})
    index.classifier = fit_entry_classifier(index.vectors.phrases, index.vectors.phrase_entry, len(index.entries))
    return rows, oof


def fit_detector(index: FaqIndex, rows: Sequence[int]) -> OffTopicHeldOut | None:
    """Fit `index.detector` on every phrasing and background question, and K-fold
    predictions for the examples: pseudo-queries and background questions by row, and the
    near misses (a pseudo-query with its entry hidden) by entry, so a near miss is judged by
    a detector that never saw its topic. None (and no detector) without background questions."""
    background = index.vectors.background
    phrases = index.vectors.phrases
    if background is None or len(background) < KFOLDS or len(phrases) < KFOLDS:
        return None
    rng = np.random.default_rng(2)
    asked = np.asarray(rows, np.int64)
    row_fold, bg_fold = rng.integers(0, KFOLDS, len(asked)), rng.integers(0, KFOLDS, len(background))
    entry_fold = rng.integers(0, KFOLDS, len(index.entries))[index.vectors.phrase_entry]
    by_row: dict[int, float] = {}
    by_entry: dict[int, float] = {}
    by_background = np.zeros(len(background))
    for k in range(KFOLDS):
        held = asked[row_fold == k]
        model = fit_off_topic(np.delete(phrases, held, axis=0), background[bg_fold != k])
        by_row.update(zip(held.tolist(), model.proba_many(phrases[held]).tolist(), strict=True))
        by_background[bg_fold == k] = model.proba_many(background[bg_fold == k])
        hidden = entry_fold == k
        if hidden.all():
            continue
        model = fit_off_topic(phrases[~hidden], background)
        held = asked[hidden[asked]]
        by_entry.update(zip(held.tolist(), model.proba_many(phrases[held]).tolist(), strict=True))
    index.detector = fit_off_topic(phrases, background)
    return OffTopicHeldOut(by_row, by_entry, by_background)


def refit_classifier(index: FaqIndex, oof: dict[int, np.ndarray] | None) -> None:
    """After tuning on a held-out sample, fit the served classifier on every phrasing."""
    if index.classifier is not None and oof is None:
        index.classifier = fit_entry_classifier(index.vectors.phrases, index.vectors.phrase_entry, len(index.entries))


def choose_thresholds(examples: Sequence[Example], top_confidence: np.ndarray) -> dict[str, float]:
    """The default decision thresholds for this FAQ, chosen on its build-time examples and the
    confidence each got for its best candidate (NaN for none).

    The answer threshold is the lowest confidence at which the index refuses NEAR_MISS_REFUSED
    of the near misses (questions asked with their entry hidden) and OFF_TOPIC_REFUSED of the
    built-in off-topic questions: an operating point chosen on data every FAQ brings with it. A
    fixed threshold does not give one: the calibration assumes one traffic mix for every FAQ,
    while how much an FAQ's near misses look like its answerable questions varies
    (docs/decisions/003-refusal-shares.md).
    """
    unanswerable = [(ex.near_miss, float(c)) for ex, c in zip(examples, top_confidence, strict=True)
                    if not ex.gold and not np.isnan(c)]
    near = [c for is_near, c in unanswerable if is_near]
    off = [c for is_near, c in unanswerable if not is_near]
    if min(len(near), len(off)) < MIN_UNANSWERABLE:
        # One kind alone would set a threshold blind to the other: a small FAQ's few near
        # misses, or an FAQ whose background questions all look like its own.
        return dict(FALLBACK_THRESHOLDS)
    bounds = [float(np.quantile(near, NEAR_MISS_REFUSED)), float(np.quantile(off, OFF_TOPIC_REFUSED))]
    answer = round(float(np.clip(max(bounds), *ANSWER_THRESHOLD_RANGE)), 3)
    return {"answer": answer, "clarify": round(CLARIFY_SHARE * answer, 3)}


@dataclass(frozen=True)
class Tuned:
    """What `tune` fitted, as the manifest stores it."""

    params: RetrievalParams
    calibrator: Calibrator | None  # None: too little to fit on (the index uses the fallback)
    calibrator_across: Calibrator | None  # for questions in another language; None: `calibrator`'s
    stats: dict[str, float]
    thresholds: dict[str, float]  # `choose_thresholds`

    def to_manifest(self) -> dict[str, Any]:
        return {"retrieval": asdict(self.params),
                "calibration": self.calibrator.to_manifest() if self.calibrator else None,
                "calibration_across_languages":
                    self.calibrator_across.to_manifest() if self.calibrator_across else None,
                "tuning": self.stats, "thresholds": self.thresholds}


def tune(index: FaqIndex, rows: Sequence[int], oof: dict[int, np.ndarray] | None = None,
         extra: Sequence[Example] = (), default: RetrievalParams | None = None,
         off_topic: OffTopicHeldOut | None = None) -> Tuned:
    """Fit the fusion weights, then the calibrator, on held-out rows plus `extra` examples,
    then choose the default decision thresholds."""
    default = default or RetrievalParams()
    examples = _balance(self_examples(index, rows, default, oof, off_topic) + list(extra))
    params, mrr = fit_params(examples, default, index.classifier is not None,
                             CANDIDATE_MAX_ANSWER_WEIGHT if candidates_only(index) else 1.0)
    x, y, w, first = calibration_rows(examples, params) if examples else \
        (np.zeros((0, 0)), np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
    calibrator = _fit(x, y, w)
    # Questions in a language the FAQ is not written in are judged on fewer signals
    # (`Ranking.across_languages`); their calibration is fitted on the same examples, so judged.
    across = [replace(ex, ranking=ex.ranking.across_languages()) for ex in examples]
    calibrator_across = _fit(*calibration_rows(across, params)[:3])
    stats = {"pseudo_queries": float(len(rows)), "calibration_rows": float(len(y)), "self_mrr": mrr}
    top_confidence = np.full(len(first), np.nan)
    if calibrator is not None and (first >= 0).any():
        top_confidence[first >= 0] = calibrator.predict(x[first[first >= 0]])
    thresholds = choose_thresholds(examples, top_confidence)
    logger.info("tuned %s on %d examples (self MRR %.3f), thresholds %s", params, len(examples), mrr, thresholds)
    return Tuned(params, calibrator, calibrator_across, stats, thresholds)


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Calibrator | None:
    """The calibrator for these calibration rows, or None when there is too little to fit on."""
    return fit_calibrator(x, y, w) if len(set(y.tolist())) == 2 and len(y) >= 40 else None
