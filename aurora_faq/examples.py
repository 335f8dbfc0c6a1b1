"""Build-time questions put to the index, as tuning and calibration examples.

Pseudo-queries are a held-out sample of the FAQ's own alternates. Each is asked with its own
phrasing row hidden (the entry must be found through its other phrasings and its answer) and
again with its whole entry hidden (every candidate is then wrong: what an unanswerable
question looks like). Labelled queries and the built-in off-topic questions join them. Their
vectors are already at hand, so making examples encodes nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from .faq import LabelledQuery
from .index import FaqIndex
from .ranking import ANN_CANDIDATES, Ranking, RetrievalParams, rank
from .text import normalize

MAX_PSEUDO_QUERIES = 1500
_SIMS_CHUNK = 256  # most queries whose cosines one matrix product computes
_SIMS_CHUNK_FLOATS = 2**24  # and at most this many cosines (64 MB) a product


@dataclass
class Example:
    """One query put to the index: the components of every candidate, and the gold entries."""

    ranking: Ranking
    gold: frozenset[int]
    weight: float = 1.0
    near_miss: bool = False  # unanswerable because its entry was hidden (vs off-topic)


@dataclass(frozen=True)
class OffTopicHeldOut:
    """The off-topic detector's predictions for the build-time examples, each from a detector
    fitted without it: what serving will see of questions the detector never learnt from."""

    rows: dict[int, float]  # pseudo-query row: fitted without the row
    entry_hidden: dict[int, float]  # pseudo-query row: fitted without any phrasing of its entry
    background: np.ndarray  # each background question: fitted without it


def pseudo_queries(index: FaqIndex, share: float = 0.2, seed: int = 0) -> list[int]:
    """Phrasing rows to hold out and ask: alternates of entries that have others left."""
    counts = np.diff(index.phrase_start)
    first_rows = set(index.phrase_start[:-1].tolist())
    rows = [r for r in range(len(index.vectors.phrases))
            if r not in first_rows and counts[index.vectors.phrase_entry[r]] > 2]
    limit = min(MAX_PSEUDO_QUERIES, int(len(rows) * share) or len(rows))
    if len(rows) > limit:
        rows = sorted(np.random.default_rng(seed).choice(rows, limit, replace=False).tolist())
    return rows


def query_neighbours(index: FaqIndex, qvecs: np.ndarray) -> Iterator[dict[str, Any]]:
    """For each query, how `rank` finds its candidates, computed for many queries at once.

    Over an exact index: the query's cosines to every phrasing row and every answer row
    (`rank(sims=...)`), by matrix products over chunks of queries: one pass over the vectors
    a chunk, not one a query, each chunk's result bounded in size. Over an approximate one,
    its closest phrasing rows (`rank(near_rows=...)`), as serving finds them: exact cosines
    would stream every row once per few dozen queries (16 s of a 100,000-entry build).
    """
    if not isinstance(index.vectors.ann, faiss.IndexFlat):
        for start in range(0, len(qvecs), _SIMS_CHUNK):
            _, found = index.vectors.ann.search(np.ascontiguousarray(qvecs[start : start + _SIMS_CHUNK]),
                                                ANN_CANDIDATES)
            yield from ({"near_rows": rows[rows >= 0]} for rows in found)
        return
    chunk = max(1, min(_SIMS_CHUNK, _SIMS_CHUNK_FLOATS // max(len(index.vectors.phrases), 1)))
    for start in range(0, len(qvecs), chunk):
        part = qvecs[start : start + chunk]
        yield from ({"sims": sims} for sims in zip(part @ index.vectors.phrases.T, part @ index.vectors.answers.T,
                                                    strict=True))


def self_examples(index: FaqIndex, rows: Sequence[int], params: RetrievalParams,
                  oof: dict[int, np.ndarray] | None = None,
                  off_topic: OffTopicHeldOut | None = None) -> list[Example]:
    """In-scope and gold-out examples for the pseudo-query rows (each hides itself).

    `oof`: the entry classifier's out-of-fold probabilities by row; `off_topic`: the off-topic
    detector's (`tuning.fit_detector`).
    """
    out = []
    qvecs = index.vectors.phrases[list(rows)]
    for row, qvec, near in zip(rows, qvecs, query_neighbours(index, qvecs), strict=True):
        entry = int(index.vectors.phrase_entry[row])
        text = normalize(index.vectors.phrase_text[row])
        lex = index.lexical.scores(text)
        proba = oof.get(row) if oof else None
        alone, unseen = (off_topic.rows.get(row), off_topic.entry_hidden.get(row)) if off_topic else (None, None)
        out.append(Example(rank(index, qvec, text, params, exclude_rows=np.array([row]), clf_proba=proba,
                                lex_docs=lex, off_topic=alone, **near), frozenset({entry})))
        out.append(Example(rank(index, qvec, text, params, exclude_entries=np.array([entry]),
                                clf_proba=proba, lex_docs=lex, off_topic=unseen, **near), frozenset(),
                           near_miss=True))
    return out


def labelled_examples(index: FaqIndex, queries: Sequence[LabelledQuery], vecs: np.ndarray,
                      params: RetrievalParams, background: bool = False,
                      off_topic: np.ndarray | None = None) -> list[Example]:
    """Labelled queries and their vectors as tuning examples (ids not in this FAQ make a query
    out of scope).

    Each answerable query is also asked with its relevant entries hidden: a near miss.
    `background`: the queries are `index.vectors.background`, each asked with itself hidden there;
    `off_topic`: the off-topic detector's out-of-fold predictions for them.
    """
    out = []
    for i, (q, v, near) in enumerate(zip(queries, vecs, query_neighbours(index, vecs), strict=True)):
        n = normalize(q.query)
        gold = frozenset(index.by_id[r] for r in q.relevant if r in index.by_id)
        held = None if off_topic is None else float(off_topic[i])
        out.append(Example(rank(index, v, n, params, exclude_background=i if background else None,
                                off_topic=held, **near), gold))
        if gold:
            hidden = np.fromiter(gold, np.int64)
            out.append(Example(rank(index, v, n, params, exclude_entries=hidden, off_topic=held, **near),
                               frozenset(), near_miss=True))
    return out
