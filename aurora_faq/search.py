"""Where the answer is chosen: rank entries for a query, attach calibrated confidence, decide.

Entry score = (1 - a) * best phrasing cosine + a * answer cosine + l * lexical coverage, where
`a` and `l` are fitted per FAQ at build time (`tuning.py`) and stored in the manifest. Taking
the best phrasing (not a sum) keeps entries with many alternates from crowding out others.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import faiss
import numpy as np

from .calibration import Calibrator, features
from .encoders import Encoder
from .errors import QueryError
from .faq import Entry
from .index import FaqIndex
from .text import LANGS, detect_lang, has_content, normalize

MAX_QUERY_CHARS = 1000
MAX_K = 20
# Above this many phrasing rows only the entries owning the closest rows (and the best lexical
# rows) are scored: scoring every entry costs several arrays of every row per query (3.8 ms at
# 40,000 rows, where these candidates take a fraction), and tuning asks thousands of queries.
CANDIDATE_ROWS = 8192
ANN_CANDIDATES = 256  # closest phrasing rows whose entries are candidates
_AGREE_ROWS = 10


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
    def from_manifest(cls, manifest: dict[str, object]) -> RetrievalParams:
        raw = manifest.get("retrieval") or {}
        assert isinstance(raw, dict)
        return cls(**{k: float(v) for k, v in raw.items() if k in cls.__dataclass_fields__})


@dataclass
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

    def order(self) -> np.ndarray:
        return np.argsort(-self.score, kind="stable")


def rank(index: FaqIndex, qvec: np.ndarray, query: str, params: RetrievalParams,
         exclude_rows: np.ndarray | None = None, exclude_entries: np.ndarray | None = None,
         clf_proba: np.ndarray | None = None, lex_docs: np.ndarray | None = None,
         exclude_background: int | None = None,
         sims: tuple[np.ndarray, np.ndarray] | None = None,
         near_rows: np.ndarray | None = None) -> Ranking:
    """Score entries for one normalized query and its vector.

    `exclude_rows` / `exclude_entries` hide phrasings or a whole entry: build-time tuning and
    `--leave-gold-out` evaluation ask the index questions as if those were not there.
    `clf_proba` replaces the classifier's output (tuning passes out-of-fold predictions);
    `lex_docs` the per-document BM25 scores when the caller already has them;
    `exclude_background` the row of the off-topic question being asked (build-time tuning);
    `sims` the query's cosines to every phrasing row and every answer row, when the caller
    computed many queries' at once (one matrix product streams the vectors once, not per query);
    `near_rows` the query's closest phrasing rows, when the caller searched the index for many
    queries at once.
    """
    n_rows = len(index.phrase_vecs)
    if lex_docs is None:
        lex_docs = index.lexical.scores(query)
    hidden_docs = _hidden_docs(index, exclude_rows, exclude_entries)
    if n_rows > CANDIDATE_ROWS:
        if sims is not None:  # exact, and already computed
            rows = np.argpartition(-sims[0], ANN_CANDIDATES)[:ANN_CANDIDATES]
        elif near_rows is not None:
            rows = near_rows
        else:  # flat or IVF (index.make_ann)
            _, found = index.ann.search(qvec[None, :], ANN_CANDIDATES)
            rows = found[0][found[0] >= 0]
        # The best lexical rows. Partitioning all rows is costly at this size; when enough
        # score within half of the best, the best are among them.
        lex, n_lex = lex_docs[:n_rows], min(32, n_rows)
        strong = np.flatnonzero(lex >= 0.5 * lex.max())
        if len(strong) >= n_lex:
            lex_top = strong[np.argpartition(lex[strong], len(strong) - n_lex)[-n_lex:]]
        else:
            lex_top = np.argpartition(lex, n_rows - n_lex)[-n_lex:]
        cand = np.unique(np.concatenate([index.phrase_entry[rows], index.phrase_entry[lex_top]]))
        if exclude_entries is not None and len(exclude_entries):
            cand = cand[~np.isin(cand, exclude_entries)]
        if not len(cand):
            return _empty_ranking(query)
        # Exact scores for candidates; rows of an entry are contiguous, so gather by ranges.
        starts, ends = index.phrase_start[cand], index.phrase_start[cand + 1]
        row_ids = _ranges(starts, ends)
        phrase_sims = sims[0][row_ids] if sims is not None else _row_dots(index.phrase_vecs, row_ids, qvec)
        lex_rows = lex_docs[row_ids]
        hidden = np.isin(row_ids, exclude_rows) if exclude_rows is not None and len(exclude_rows) else None
        seg = _offsets(ends - starts)
        seg_of_row = np.repeat(np.arange(len(cand)), ends - starts)
        a_starts, a_ends = index.answer_start[cand], index.answer_start[cand + 1]
        a_rows = _ranges(a_starts, a_ends)
        a_seg = _offsets(a_ends - a_starts)
        a_sims = sims[1][a_rows] if sims is not None else _row_dots(index.answer_vecs, a_rows, qvec)
        lex_a = lex_docs[n_rows + a_rows]
    else:
        # Every entry is a candidate: score the matrices in place (gathering copies them, 5x the
        # product's cost), and drop hidden entries at the end.
        # Entry e's rows start at phrase_start[e]: the segments need no computing.
        cand = np.arange(len(index.entries))
        row_ids = np.arange(n_rows)
        seg, seg_of_row = index.phrase_start[:-1], index.phrase_entry
        phrase_sims = sims[0] if sims is not None else index.phrase_vecs @ qvec
        lex_rows = lex_docs[:n_rows]
        hidden = _hidden_rows(index, exclude_rows, exclude_entries)
        a_seg = index.answer_start[:-1]
        a_sims = sims[1] if sims is not None else index.answer_vecs @ qvec
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
    owners = np.bincount(index.phrase_entry[row_ids[top]], minlength=len(index.entries))
    agree = owners[cand].astype(np.float32) / _AGREE_ROWS
    if n_rows <= CANDIDATE_ROWS and exclude_entries is not None and len(exclude_entries):
        keep = np.ones(len(cand), bool)
        keep[exclude_entries] = False
        if not keep.any():
            return _empty_ranking(query)
        cand, score, phrase, answer, lexical, clf, best_row, agree = (
            x[keep] for x in (cand, score, phrase, answer, lexical, clf, best_row, agree))
    f32 = np.float32
    return Ranking(cand, score, phrase.astype(f32, copy=False), answer.astype(f32, copy=False),
                   lexical.astype(f32, copy=False), clf.astype(f32, copy=False), best_row, agree, len(query),
                   index.lexical.known_share(query, hidden_docs), _background(index, qvec, exclude_background))


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
    if index.background_vecs is None or not len(index.background_vecs):
        return 0.0
    sims = index.background_vecs @ qvec
    if exclude is not None:
        sims[exclude] = -1.0
    return float(sims.max())


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
    return Ranking(np.zeros(0, np.int64), none, none, none, none, none, np.zeros(0, np.int64), none,
                   len(query), 0.0)


def _hidden_rows(index: FaqIndex, rows: np.ndarray | None, entries: np.ndarray | None) -> np.ndarray | None:
    """Mask of the phrasing rows that `rank` must treat as absent, or None for none."""
    if (rows is None or not len(rows)) and (entries is None or not len(entries)):
        return None
    mask = np.zeros(len(index.phrase_vecs), bool)
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
        parts.append(len(index.phrase_vecs) + np.arange(index.answer_start[e], index.answer_start[e + 1]))
    return np.concatenate(parts) if parts else None


@dataclass(frozen=True)
class Hit:
    entry: Entry
    lang: str
    score: float
    confidence: float
    matched: str


@dataclass(frozen=True)
class SearchResult:
    query: str
    lang: str
    decision: str  # "answer" | "clarify" | "no_answer"
    hits: list[Hit]
    fallback: str | None


@dataclass(frozen=True)
class Thresholds:
    """Confidence needed to answer, and to offer the candidates as "did you mean"."""

    answer: float = 0.5
    clarify: float = 0.2

    @classmethod
    def from_manifest(cls, manifest: dict[str, object], answer: float | None = None,
                      clarify: float | None = None) -> Thresholds:
        """The index's own defaults (chosen at build time, `tuning.choose_thresholds`), with
        `answer` / `clarify` given in their place; clarify never above answer."""
        raw = manifest.get("thresholds") or {}
        assert isinstance(raw, dict)
        a = float(raw.get("answer", cls.answer)) if answer is None else answer
        c = float(raw.get("clarify", cls.clarify)) if clarify is None else clarify
        return cls(answer=a, clarify=min(c, a))


@dataclass
class Engine:
    """A loaded index plus its encoder: the one object the service and the evaluator query.

    Run it with one BLAS thread (`threadpoolctl.threadpool_limits(1, user_api="blas")`), as the
    service and the scripts do: e5 takes both cores, and OpenBLAS threads spinning after each
    small ranking product stall it. Searched one at a time with numpy's two OpenBLAS threads, a
    question took 108 ms (p50 of 30) instead of 12.7.
    """

    index: FaqIndex
    encoder: Encoder
    thresholds: Thresholds | None = None  # None: the index's own (`Thresholds.from_manifest`)
    fallback: dict[str, str] = field(default_factory=dict)
    cache_size: int = 1024
    _NO_EXCLUSIONS = np.zeros(0, np.int64)  # not a field: unannotated

    def __post_init__(self) -> None:
        self.decision_thresholds = self.thresholds or Thresholds.from_manifest(self.index.manifest)
        self.params = RetrievalParams.from_manifest(self.index.manifest)
        self.calibrator = Calibrator.from_manifest(self.index.manifest)
        self.calibrator_no_clf = Calibrator.from_manifest(self.index.manifest, "calibration_no_classifier")
        self._cache: OrderedDict[tuple[object, ...], SearchResult] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- validation -------------------------------------------------------------------------
    @staticmethod
    def check_query(query: str, k: int, lang: str | None) -> None:
        if not isinstance(k, int) or isinstance(k, bool):
            raise QueryError(f"k must be an integer between 1 and {MAX_K}")
        if not isinstance(query, str) or not query.strip():
            raise QueryError("query 'q' is empty: send the shopper's question as text")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"query is {len(query)} characters; send at most {MAX_QUERY_CHARS}")
        if not has_content(query):
            raise QueryError("query holds only control characters or spaces: send readable text")
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, got {k}")
        if lang is not None and lang not in LANGS:
            raise QueryError(f"lang must be one of {', '.join(LANGS)} (or omitted to detect it), got {lang!r}")

    # -- search -----------------------------------------------------------------------------
    def search(self, query: str, k: int = 3, lang: str | None = None,
               category: str | None = None) -> SearchResult:
        """Answer one shopper question (see `search_many`)."""
        return self.search_many([query], k=k, lang=lang, category=category)[0]

    def search_many(self, queries: Sequence[str], k: int = 3, lang: str | None = None,
                    category: str | None = None,
                    exclude: Sequence[Sequence[str]] | None = None) -> list[SearchResult]:
        """Answer several questions with one encoder call (the batching path).

        Args:
            exclude: per query, entry ids to act as if absent (leave-gold-out evaluation).

        Raises:
            QueryError: for input the caller must fix (message says what).
        """
        for q in queries:
            self.check_query(q, k, lang)
        norm = [normalize(q) for q in queries]
        hidden = [np.array([self.index.by_id[i] for i in ids if i in self.index.by_id], np.int64)
                  for ids in exclude] if exclude else [self._NO_EXCLUSIONS] * len(queries)
        keys = [self._key(n, k, lang, category, h) for n, h in zip(norm, hidden, strict=True)]
        out: list[SearchResult | None] = [self._cache_get(key) for key in keys]
        todo = [i for i, r in enumerate(out) if r is None]
        if todo:
            vecs = self.encoder.encode_queries([norm[i] for i in todo])
            for i, vec in zip(todo, vecs, strict=True):
                out[i] = self._answer_and_cache(queries[i], norm[i], vec, k, lang, category, hidden[i])
        # A cached result may come from another spelling of the same normalized query.
        return [replace(r, query=q) for r, q in zip(out, queries, strict=True) if r is not None]

    def encode(self, queries: Sequence[str]) -> np.ndarray:
        """The query vectors `search` would use (one encoder call): the costly step of a search.

        With `answer_vectors` it splits `search_many` in two, so the service's micro-batcher can
        encode the next batch while it ranks this one. Queries are not validated here
        (`check_query`).

        Args:
            queries: the shopper's questions as sent (normalized here).

        Returns:
            One unit row per query.
        """
        return self.encoder.encode_queries([normalize(q) for q in queries])

    def answer_vectors(self, queries: Sequence[str], vecs: np.ndarray, k: int = 3, lang: str | None = None,
                       category: str | None = None) -> list[SearchResult]:
        """What `search_many` answers, for queries whose vectors `encode` made; cached likewise.

        Args:
            queries: the questions given to `encode`, in the same order.
            vecs: `encode`'s rows for them.

        Raises:
            QueryError: for input the caller must fix.
        """
        out = []
        for query, vec in zip(queries, vecs, strict=True):
            self.check_query(query, k, lang)
            out.append(self._answer_and_cache(query, normalize(query), vec, k, lang, category, self._NO_EXCLUSIONS))
        return out

    def _answer_and_cache(self, query: str, norm: str, qvec: np.ndarray, k: int, lang: str | None,
                          category: str | None, hidden: np.ndarray) -> SearchResult:
        result = self._answer(query, norm, qvec, k, lang, category, hidden)
        self._cache_put(self._key(norm, k, lang, category, hidden), result)
        return result

    @staticmethod
    def _key(norm: str, k: int, lang: str | None, category: str | None,
             hidden: np.ndarray) -> tuple[object, ...]:
        """The cache key of a normalized query asked with these options and entries hidden."""
        return (norm, k, lang, category, hidden.tobytes())

    def _answer(self, query: str, norm: str, qvec: np.ndarray, k: int, lang: str | None,
                category: str | None, hidden: np.ndarray) -> SearchResult:
        written = detect_lang(norm)
        lang = lang or written
        # The classifier learnt only the languages the FAQ is written in; across languages its
        # probabilities are unreliable (xSID ja→en R@1 falls), so similarity alone decides.
        no_clf = None
        if self.index.classifier is not None and written not in self.index.phrase_langs:
            no_clf = np.zeros(len(self.index.entries))
        ranking = rank(self.index, qvec, norm, self.params, exclude_entries=hidden, clf_proba=no_clf)
        order = ranking.order()
        # Calibrated per candidate, then made non-increasing down the ranking so confidence
        # is monotone in score: a lower-scored result never claims more than the one above.
        conf = np.empty(len(order))
        calibrator = self.calibrator if no_clf is None else self.calibrator_no_clf
        conf[order] = np.minimum.accumulate(calibrator.predict(features(ranking))[order])
        hits = []
        for j in order:
            entry = self.index.entries[int(ranking.entries[j])]
            if category and entry.category != category:
                continue
            shown = entry.in_lang(lang)
            hits.append(Hit(entry, shown, float(ranking.score[j]), float(conf[j]),
                            self.index.phrase_text[int(ranking.best_row[j])]))
            if len(hits) == k:
                break
        top = hits[0].confidence if hits else 0.0
        if top >= self.decision_thresholds.answer:
            decision = "answer"
        elif top >= self.decision_thresholds.clarify and len(hits) > 1:
            decision = "clarify"
        else:
            decision = "no_answer"
        fallback = None if decision == "answer" else self.fallback.get(lang)
        return SearchResult(query, lang, decision, hits, fallback)

    # -- bounded LRU of normalized queries: a typing shopper repeats prefixes -----------------
    def _cache_get(self, key: tuple[object, ...]) -> SearchResult | None:
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _cache_put(self, key: tuple[object, ...], value: SearchResult) -> None:
        if self.cache_size <= 0:
            return
        with self._cache_lock:
            self._cache[key] = value
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def cached(self, query: str, k: int = 3, lang: str | None = None,
               category: str | None = None) -> SearchResult | None:
        """What `search` would answer from the LRU cache alone, or None if it would have to search.

        The service's micro-batcher asks this first, so a repeated question never waits for a batch.

        Raises:
            QueryError: for input the caller must fix, as `search` does.
        """
        self.check_query(query, k, lang)
        hit = self._cache_get(self._key(normalize(query), k, lang, category, self._NO_EXCLUSIONS))
        return None if hit is None else replace(hit, query=query)
