"""Build-time fitting on the FAQ itself: retrieval weights and the confidence calibration.

Pseudo-queries are the FAQ's own alternates, each asked with its own phrasing row hidden
(so the entry must be found through its other phrasings and its answer), and asked again with
its whole entry hidden (so every candidate is wrong: what an unanswerable question looks
like). Their vectors are already in the index, so tuning encodes nothing new.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .calibration import Calibrator, features, fit_calibrator
from .index import FaqIndex
from .search import Ranking, RetrievalParams, rank

logger = logging.getLogger(__name__)

MAX_PSEUDO_QUERIES = 1500
ANSWER_WEIGHTS = (0.0, 0.15, 0.3, 0.5)
LEXICAL_WEIGHTS = (0.0, 0.05, 0.1, 0.2)
CALIBRATION_DEPTH = 3  # candidates per query used as calibration examples


@dataclass
class Example:
    """One query put to the index: the components of every candidate, and the gold entries."""

    ranking: Ranking
    gold: frozenset[int]


def pseudo_queries(index: FaqIndex, seed: int = 0) -> list[tuple[int, int]]:
    """(phrasing row, entry) pairs to ask, alternates only, at most MAX_PSEUDO_QUERIES."""
    first_rows = set(index.phrase_start[:-1].tolist())
    # Entries with a single phrasing cannot be found once it is hidden: nothing to learn.
    counts = np.diff(index.phrase_start)
    rows = [r for r in range(len(index.phrase_vecs))
            if r not in first_rows and counts[index.phrase_entry[r]] > 1]
    rng = np.random.default_rng(seed)
    if len(rows) > MAX_PSEUDO_QUERIES:
        rows = sorted(rng.choice(rows, MAX_PSEUDO_QUERIES, replace=False).tolist())
    return [(r, int(index.phrase_entry[r])) for r in rows]


def _rescore(r: Ranking, p: RetrievalParams) -> Ranking:
    score = (1 - p.answer_weight) * r.phrase + p.answer_weight * r.answer + p.lexical_weight * r.lexical
    return Ranking(r.entries, score.astype(np.float32), r.phrase, r.answer, r.lexical, r.best_row,
                   r.agree, r.query_chars)


def _mrr(examples: Sequence[Example], p: RetrievalParams) -> float:
    total = 0.0
    for ex in examples:
        r = _rescore(ex.ranking, p)
        order = r.entries[r.order()]
        hits = np.flatnonzero(np.isin(order, list(ex.gold)))
        total += 1.0 / (hits[0] + 1) if len(hits) else 0.0
    return total / max(len(examples), 1)


def fit_params(examples: Sequence[Example], default: RetrievalParams) -> tuple[RetrievalParams, float]:
    """Grid search of the fusion weights by MRR on the in-scope examples."""
    positives = [ex for ex in examples if ex.gold]
    if len(positives) < 20:
        return default, float("nan")
    grid = [RetrievalParams(a, lw) for a, lw in itertools.product(ANSWER_WEIGHTS, LEXICAL_WEIGHTS)]
    scored = [(_mrr(positives, p), -i, p) for i, p in enumerate(grid)]
    best_mrr, _, best = max(scored)
    return best, best_mrr


def calibration_rows(examples: Sequence[Example], p: RetrievalParams) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for ex in examples:
        r = _rescore(ex.ranking, p)
        x = features(r)
        top = r.order()[:CALIBRATION_DEPTH]
        xs.append(x[top])
        ys.append(np.isin(r.entries[top], list(ex.gold)).astype(int))
    return np.vstack(xs), np.concatenate(ys)


def self_examples(index: FaqIndex, params: RetrievalParams) -> list[Example]:
    """In-scope and gold-out pseudo-query examples from the FAQ's alternates."""
    out = []
    for row, entry in pseudo_queries(index):
        text = index.phrase_text[row]
        lex = index.lexical.scores(text)
        qvec = index.phrase_vecs[row]
        n = len(text)
        out.append(Example(rank(index, qvec, lex, params, exclude_rows=np.array([row]), query_chars=n),
                           frozenset({entry})))
        out.append(Example(rank(index, qvec, lex, params, exclude_entries=np.array([entry]), query_chars=n),
                           frozenset()))
    return out


def tune(index: FaqIndex, extra: Sequence[Example] = (),
         default: RetrievalParams = RetrievalParams()) -> tuple[RetrievalParams, Calibrator | None, dict[str, float]]:
    """Fit fusion weights, then the calibrator, on the FAQ's pseudo-queries plus `extra`.

    Returns:
        (params, calibrator or None when there is too little to fit on, figures for the manifest)
    """
    examples = self_examples(index, default) + list(extra)
    params, mrr = fit_params(examples, default)
    x, y = calibration_rows(examples, params) if examples else (np.zeros((0, 1)), np.zeros(0))
    calibrator = fit_calibrator(x, y) if len(set(y.tolist())) == 2 and len(y) >= 40 else None
    stats = {"pseudo_queries": float(sum(1 for ex in examples if ex.gold)),
             "calibration_rows": float(len(y)), "self_mrr": mrr}
    logger.info("tuned %s on %d examples (self MRR %.3f)", params, len(examples), mrr)
    return params, calibrator, stats
