"""Rank an FAQ's entries for one query: every candidate entry with its score components.

Entry score = (1 - a) * best phrasing cosine + a * answer cosine + l * lexical coverage
+ c * classifier probability, where `a`, `l` and `c` are fitted per FAQ at build time
(`tuning.py`) and stored in the manifest. Taking the best phrasing (not a sum) keeps entries with
many alternates from crowding out others. Tuning and calibration read the components; the
engine (`engine.py`) turns a ranking into an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import faiss
import numpy as np

from .index import FaqIndex
from .names import in_latin_letters

# Above this many phrasing rows only the entries owning the closest rows (and the best lexical
# rows) are scored: scoring every entry costs several arrays of every row per query, and tuning
# asks thousands of queries.
CANDIDATE_ROWS = 8192
ANN_CANDIDATES = 256  # closest phrasing rows whose entries are candidates
_AGREE_ROWS = 10


def candidates_only(index: FaqIndex) -> bool:
    """Whether `rank` scores only candidate entries in this index, not every entry."""
    return len(index.vectors.phrases) > CANDIDATE_ROWS


@dataclass(frozen=True)
class RetrievalParams:
    answer_weight: float = 0.5
    lexical_weight: float = 0.1
    classifier_weight: float = 0.0

    def combine(self, phrase: np.ndarray, answer: np.ndarray, lexical: np.ndarray,
                clf: np.ndarray) -> np.ndarray:
        return ((1 - self.answer_weight) * phrase + self.answer_weight * answer
                + self.lexical_weight * lexical + self.classifier_weight * clf).astype(np.float32)

    @classmethod
    def from_manifest(cls, raw: dict[str, Any]) -> RetrievalParams:
        """The weights a manifest's "retrieval" stored (`dataclasses.asdict` of the fitted ones)."""
        return cls(**{k: float(v) for k, v in raw.items()})


@dataclass(kw_only=True)
class Ranking:
    """Every candidate entry for one query with its score components (arrays aligned)."""

    entries: np.ndarray
    score: np.ndarray
    phrase: np.ndarray
    answer: np.ndarray
    lexical: np.ndarray
    clf: np.ndarray  # entry classifier probability (zeros without a classifier)
    best_row: np.ndarray  # phrasing row that gave `phrase`
    agree: np.ndarray  # share of the top phrasing rows that belong to the entry
    query_chars: int
    known: float  # IDF-weighted share of the query's words found in the FAQ
    background: float = 0.0  # cosine of the closest built-in off-topic question
    off_topic: float = 0.0  # the index's off-topic detector's P(off topic) (0 without one)
    unknown_names: int = 0  # names in the query that no visible document writes (`names.py`)
    unknown_latin_names: int = 0  # of those, the ones with a spelling in Latin letters

    def order(self) -> np.ndarray:
        return np.argsort(-self.score, kind="stable")

    def across_languages(self) -> Ranking:
        """What a question in another language than the FAQ's is judged on: no lexical evidence
        (names included) and no off-topic detector. It shares no words with the FAQ, and the
        detector learnt the FAQ's language only; in its own language either would mark a topic
        the FAQ never mentions. Its names in Latin letters stay (`unknown_latin_names`): the
        FAQ could write `Spotify`, never スポティファイ. Scores stay as they were: rescore for
        other weights."""
        return replace(self, lexical=np.zeros_like(self.lexical), known=0.0, off_topic=0.0, unknown_names=0)

    def rescored(self, params: RetrievalParams) -> Ranking:
        """The same candidates scored with other fusion weights (tuning tries many)."""
        return replace(self, score=params.combine(self.phrase, self.answer, self.lexical, self.clf))


def rank(index: FaqIndex, qvec: np.ndarray, query: str, params: RetrievalParams,
         exclude_rows: np.ndarray | None = None, exclude_entries: np.ndarray | None = None,
         clf_proba: np.ndarray | None = None, lex_docs: np.ndarray | None = None,
         exclude_background: int | None = None,
         sims: tuple[np.ndarray, np.ndarray] | None = None,
         near_rows: np.ndarray | None = None, off_topic: float | None = None) -> Ranking:
    """Score entries for one normalized query and its vector.

    `exclude_rows` / `exclude_entries` hide phrasings or a whole entry: build-time tuning and
    `--leave-gold-out` evaluation ask the index questions as if those were not there.
    `clf_proba` replaces the classifier's output (tuning passes out-of-fold predictions);
    `lex_docs` the per-document BM25 scores when the caller already has them;
    `exclude_background` the row of the off-topic question being asked (build-time tuning);
    `sims` the query's cosines to every phrasing row and every answer row, when the caller
    computed many queries' at once (one matrix product streams the vectors once, not per query);
    `near_rows` the query's closest phrasing rows, when the caller searched the index for many
    queries at once; `off_topic` replaces the off-topic detector's output (tuning passes
    out-of-fold predictions).
    """
    n_rows = len(index.vectors.phrases)
    if lex_docs is None:
        lex_docs = index.lexical.scores(query)
    hidden_docs = _hidden_docs(index, exclude_rows, exclude_entries)
    if candidates_only(index):
        if sims is not None:  # exact, and already computed
            rows = np.argpartition(-sims[0], ANN_CANDIDATES)[:ANN_CANDIDATES]
        elif near_rows is not None:
            rows = near_rows
        else:  # flat or IVF (vectors.make_ann)
            _, found = index.vectors.ann.search(qvec[None, :], ANN_CANDIDATES)
            rows = found[0][found[0] >= 0]
        # The best lexical rows. Partitioning all rows is costly at this size; when enough
        # score within half of the best, the best are among them.
        lex, n_lex = lex_docs[:n_rows], min(32, n_rows)
        strong = np.flatnonzero(lex >= 0.5 * lex.max())
        if len(strong) >= n_lex:
            lex_top = strong[np.argpartition(lex[strong], len(strong) - n_lex)[-n_lex:]]
        else:
            lex_top = np.argpartition(lex, n_rows - n_lex)[-n_lex:]
        cand = np.unique(np.concatenate([index.vectors.phrase_entry[rows], index.vectors.phrase_entry[lex_top]]))
        if exclude_entries is not None and len(exclude_entries):
            cand = cand[~np.isin(cand, exclude_entries)]
        if not len(cand):
            return _empty_ranking(query)
        # Exact scores for candidates; rows of an entry are contiguous, so gather by ranges.
        starts, ends = index.phrase_start[cand], index.phrase_start[cand + 1]
        row_ids = _ranges(starts, ends)
        phrase_sims = sims[0][row_ids] if sims is not None else _row_dots(index.vectors.phrases, row_ids, qvec)
        lex_rows = lex_docs[row_ids]
        hidden = np.isin(row_ids, exclude_rows) if exclude_rows is not None and len(exclude_rows) else None
        seg = _offsets(ends - starts)
        seg_of_row = np.repeat(np.arange(len(cand)), ends - starts)
        a_starts, a_ends = index.answer_start[cand], index.answer_start[cand + 1]
        a_rows = _ranges(a_starts, a_ends)
        a_seg = _offsets(a_ends - a_starts)
        a_sims = sims[1][a_rows] if sims is not None else _row_dots(index.vectors.answers, a_rows, qvec)
        lex_a = lex_docs[n_rows + a_rows]
    else:
        # Every entry is a candidate: score the matrices in place (gathering copies them, 5x the
        # product's cost), and drop hidden entries at the end.
        # Entry e's rows start at phrase_start[e]: the segments need no computing.
        cand = np.arange(len(index.entries))
        row_ids = np.arange(n_rows)
        seg, seg_of_row = index.phrase_start[:-1], index.vectors.phrase_entry
        phrase_sims = sims[0] if sims is not None else index.vectors.phrases @ qvec
        lex_rows = lex_docs[:n_rows]
        hidden = _hidden_rows(index, exclude_rows, exclude_entries)
        a_seg = index.answer_start[:-1]
        a_sims = sims[1] if sims is not None else index.vectors.answers @ qvec
        lex_a = lex_docs[n_rows:]
    if hidden is not None:
        phrase_sims = np.where(hidden, -1.0, phrase_sims)
        lex_rows = np.where(hidden, 0.0, lex_rows)
    phrase = np.maximum.reduceat(phrase_sims, seg)
    # Which row gave each maximum: the first row of each segment that equals it (rows at a
    # maximum come in segment order, so a segment's first is where the segment number changes).
    at_max = np.flatnonzero(phrase_sims == phrase[seg_of_row])
    first = np.flatnonzero(np.diff(seg_of_row[at_max], prepend=-1))
    best_row = row_ids[at_max[first]]
    lex_phrase = np.maximum.reduceat(lex_rows, seg)
    answer = np.maximum.reduceat(a_sims, a_seg)
    lexical = np.maximum(lex_phrase, np.maximum.reduceat(lex_a, a_seg))

    if clf_proba is None and index.classifier is not None:
        clf_proba = index.classifier.proba(qvec)
    clf = clf_proba[cand] if clf_proba is not None else np.zeros(len(cand))
    if clf_proba is not None and exclude_entries is not None and len(exclude_entries):
        # A classifier fitted without the hidden entries would spread their probability over
        # the rest (same logits, softmax over fewer classes). Without this, near misses made
        # by hiding an entry look unlike real ones, where the softmax is confidently wrong.
        clf = clf / max(1.0 - float(clf_proba[exclude_entries].sum()), 1e-9)
    score = params.combine(phrase, answer, lexical, clf)
    # Agreement: how many of the closest phrasings overall belong to each candidate.
    top = (np.argpartition(-phrase_sims, _AGREE_ROWS)[:_AGREE_ROWS] if len(phrase_sims) > _AGREE_ROWS
           else np.arange(len(phrase_sims)))
    owners = np.bincount(index.vectors.phrase_entry[row_ids[top]], minlength=len(index.entries))
    agree = owners[cand].astype(np.float32) / _AGREE_ROWS
    if not candidates_only(index) and exclude_entries is not None and len(exclude_entries):
        keep = np.ones(len(cand), bool)
        keep[exclude_entries] = False
        if not keep.any():
            return _empty_ranking(query)
        cand, score, phrase, answer, lexical, clf, best_row, agree = (
            x[keep] for x in (cand, score, phrase, answer, lexical, clf, best_row, agree))
    f32 = np.float32
    unwritten = index.lexical.unwritten_names(query, hidden_docs)
    return Ranking(entries=cand, score=score, phrase=phrase.astype(f32, copy=False),
                   answer=answer.astype(f32, copy=False), lexical=lexical.astype(f32, copy=False),
                   clf=clf.astype(f32, copy=False), best_row=best_row, agree=agree, query_chars=len(query),
                   known=index.lexical.known_share(query, hidden_docs),
                   unknown_names=len(unwritten), unknown_latin_names=sum(map(in_latin_letters, unwritten)),
                   background=_background(index, qvec, exclude_background),
                   off_topic=_off_topic(index, qvec) if off_topic is None else off_topic)


def _row_dots(vecs: np.ndarray, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    """`vecs[rows] @ qvec`, with faiss reading the rows in place instead of numpy copying them
    out first: the candidates' rows are scattered over the whole matrix, and at 100,000
    entries the copy was most of the time (0.19 against 0.12 ms for 1,000 rows)."""
    if vecs.dtype != np.float32 or not vecs.flags.c_contiguous:
        out: np.ndarray = vecs[rows] @ qvec
        return out
    query = np.ascontiguousarray(qvec, dtype=np.float32)
    ids = np.ascontiguousarray(rows, dtype=np.int64)
    out = np.empty(len(ids), np.float32)
    faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]
        faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(vecs),
        faiss.swig_ptr(ids), vecs.shape[1], 1, len(ids))
    return out


def _background(index: FaqIndex, qvec: np.ndarray, exclude: int | None) -> float:
    """Cosine of the closest built-in off-topic question (0 for indexes built without them)."""
    if index.vectors.background is None or not len(index.vectors.background):
        return 0.0
    sims = index.vectors.background @ qvec
    if exclude is not None:
        sims[exclude] = -1.0
    return float(sims.max())


def _off_topic(index: FaqIndex, qvec: np.ndarray) -> float:
    return index.detector.proba(qvec) if index.detector is not None else 0.0


def _offsets(lengths: np.ndarray) -> np.ndarray:
    """Where each of consecutive segments of these lengths starts."""
    out: np.ndarray = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return out


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of arange(s, e) for each pair, without a Python loop."""
    lengths = ends - starts
    shift = np.repeat(starts - _offsets(lengths), lengths)
    out: np.ndarray = shift + np.arange(lengths.sum())
    return out


def _empty_ranking(query: str) -> Ranking:
    none = np.zeros(0, np.float32)
    return Ranking(entries=np.zeros(0, np.int64), score=none, phrase=none, answer=none, lexical=none, clf=none,
                   best_row=np.zeros(0, np.int64), agree=none, query_chars=len(query), known=0.0)


def _hidden_rows(index: FaqIndex, rows: np.ndarray | None, entries: np.ndarray | None) -> np.ndarray | None:
    """Mask of the phrasing rows that `rank` must treat as absent, or None for none."""
    if (rows is None or not len(rows)) and (entries is None or not len(entries)):
        return None
    mask = np.zeros(len(index.vectors.phrases), bool)
    if rows is not None:
        mask[np.asarray(rows, np.int64)] = True
    for e in [] if entries is None else entries:
        mask[index.phrase_start[e] : index.phrase_start[e + 1]] = True
    return mask


def _hidden_docs(index: FaqIndex, rows: np.ndarray | None, entries: np.ndarray | None) -> np.ndarray | None:
    """Lexical document ids (phrasings, then answers) that `rank` must treat as absent."""
    parts = [] if rows is None else [np.asarray(rows, np.int64)]
    for e in [] if entries is None else entries:
        parts.append(np.arange(index.phrase_start[e], index.phrase_start[e + 1]))
        parts.append(len(index.vectors.phrases) + np.arange(index.answer_start[e], index.answer_start[e + 1]))
    return np.concatenate(parts) if parts else None


