"""Where the answer is chosen: a loaded index and its encoder answer a `Query`.

`Engine.search` ranks the entries (`ranking.rank`), attaches calibrated confidence
(`calibration`) and `decide`s: answer with the best entry, offer the candidates as "did you
mean" (clarify), or say there is no answer and hand back the shop's fallback message.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import romaji
from .calibration import features
from .encoders import Encoder
from .faq import Entry
from .index import FaqIndex
from .query import Query
from .ranking import RetrievalParams, rank


class Decision(enum.StrEnum):
    ANSWER = "answer"  # show the first hit
    CLARIFY = "clarify"  # offer the hits as choices
    NO_ANSWER = "no_answer"  # show the fallback


@dataclass(frozen=True)
class Thresholds:
    """Confidence needed to answer, and to offer the candidates as "did you mean"."""

    answer: float = 0.5
    clarify: float = 0.2

    @classmethod
    def from_manifest(cls, raw: dict[str, Any], answer: float | None = None,
                      clarify: float | None = None) -> Thresholds:
        """The index's own (its manifest's "thresholds", chosen at build time by
        `tuning.choose_thresholds`), with `answer` / `clarify` given in their place; clarify never
        above answer."""
        a = float(raw["answer"]) if answer is None else answer
        c = float(raw["clarify"]) if clarify is None else clarify
        return cls(answer=a, clarify=min(c, a))


def decide(top_confidence: float, candidates: int, thresholds: Thresholds,
           names_unknown: bool = False) -> Decision:
    """The decision for a result whose best hit has `top_confidence`, among `candidates` hits.

    `names_unknown`: the question names a company or service the FAQ never writes (`names.py`).
    It is offered the hits at most: `Spotifyの支払い方法を変えたい` is a payment change to the
    embedding and the classifier alike, and the build-time examples cannot teach the calibration
    otherwise (its background questions naming other companies are easy to refuse already).
    """
    if top_confidence >= thresholds.answer and not names_unknown:
        return Decision.ANSWER
    # One candidate is no choice to offer.
    if top_confidence >= thresholds.clarify and candidates > 1:
        return Decision.CLARIFY
    return Decision.NO_ANSWER


@dataclass(frozen=True)
class Hit:
    entry: Entry
    lang: str  # the language its texts are shown in
    score: float
    confidence: float
    matched: str  # the entry's phrasing closest to the query


@dataclass(frozen=True)
class SearchResult:
    query: str
    lang: str
    decision: Decision
    hits: list[Hit]
    fallback: str | None


@dataclass
class Engine:
    """A loaded index plus its encoder: the one object the service and the evaluator query.

    Run it with one BLAS thread (`threadpoolctl.threadpool_limits(1, user_api="blas")`), as the
    service and the scripts do: e5 takes both cores, and OpenBLAS threads spinning after each
    small ranking product stall it (a search took 8× as long without the limit).
    """

    index: FaqIndex
    encoder: Encoder
    thresholds: Thresholds | None = None  # None: the index's own (`Thresholds.from_manifest`)
    fallback: dict[str, str] = field(default_factory=dict)
    cache_size: int = 1024
    limit_unwritten_names: bool = True  # `decide(names_unknown=...)`; False: confidence alone decides
    _NO_EXCLUSIONS = np.zeros(0, np.int64)  # not a field: unannotated

    def __post_init__(self) -> None:
        manifest = self.index.manifest
        self.decision_thresholds = self.thresholds or Thresholds.from_manifest(manifest["thresholds"])
        self.params = RetrievalParams.from_manifest(manifest["retrieval"])
        self._cache: OrderedDict[tuple[object, ...], SearchResult] = OrderedDict()
        self._cache_lock = threading.Lock()
        romaji.load()  # every `Query.of` may consult its word list: loaded with the index, not on a search

    def search(self, query: Query) -> SearchResult:
        """Answer one shopper question (see `search_many`)."""
        return self.search_many([query])[0]

    def search_many(self, queries: Sequence[Query],
                    exclude: Sequence[Sequence[str]] | None = None) -> list[SearchResult]:
        """Answer several questions with one encoder call; answers come from the cache when they can.

        Args:
            exclude: per query, entry ids to act as if absent (leave-gold-out evaluation).
        """
        hidden = [np.array([self.index.by_id[i] for i in ids if i in self.index.by_id], np.int64)
                  for ids in exclude] if exclude else [self._NO_EXCLUSIONS] * len(queries)
        keys = [(*q.cache_key, h.tobytes()) for q, h in zip(queries, hidden, strict=True)]
        out: list[SearchResult | None] = [self._cache_get(key) for key in keys]
        todo = [i for i, r in enumerate(out) if r is None]
        if todo:
            vecs = self.encode([queries[i] for i in todo])
            for i, vec in zip(todo, vecs, strict=True):
                out[i] = self._answer_and_cache(queries[i], vec, hidden[i], keys[i])
        # A cached result may come from another spelling of the same normalized query.
        return [replace(r, query=q.text) for r, q in zip(out, queries, strict=True) if r is not None]

    def encode(self, queries: Sequence[Query]) -> np.ndarray:
        """The query vectors `search` would use (one encoder call): the costly step of a search.

        With `answer` it splits `search_many` in two, so the service's micro-batcher can encode
        the next batch while it ranks this one.

        Returns:
            One unit row per query.
        """
        return self.encoder.encode_queries([self.searched(q) for q in queries])

    def searched(self, query: Query) -> str:
        """What the index is asked: `Query.searched`, an English one with its typos put right
        toward the FAQ's words (`spelling.py`)."""
        return self.index.lexical.corrected(query.searched) if query.written == "en" else query.searched

    def answer(self, query: Query, vec: np.ndarray) -> SearchResult:
        """What `search` answers for a query whose vector `encode` made; cached likewise."""
        return self._answer_and_cache(query, vec, self._NO_EXCLUSIONS, (*query.cache_key, b""))

    def cached(self, query: Query) -> SearchResult | None:
        """What `search` would answer from the LRU cache alone, or None if it would have to search.

        The service asks this first, so a repeated question never waits for the encoder.
        """
        hit = self._cache_get((*query.cache_key, b""))
        return None if hit is None else replace(hit, query=query.text)

    def _answer_and_cache(self, query: Query, qvec: np.ndarray, hidden: np.ndarray,
                          key: tuple[object, ...]) -> SearchResult:
        result = self._answer(query, qvec, hidden)
        self._cache_put(key, result)
        return result

    def _answer(self, query: Query, qvec: np.ndarray, hidden: np.ndarray) -> SearchResult:
        # A question in a language the FAQ is not written in is moved into the FAQ's language
        # first; then the classifier and similarity place it as they would a question in it.
        across = query.written not in self.index.phrase_langs
        if across:
            qvec = self.index.in_faq_language(qvec[None, :], [query.written])[0]
        ranking = rank(self.index, qvec, self.searched(query), self.params, exclude_entries=hidden)
        if across:
            ranking = ranking.across_languages().rescored(self.params)
        order = ranking.order()
        # Calibrated per candidate, then made non-increasing down the ranking so confidence
        # is monotone in score: a lower-scored result never claims more than the one above.
        conf = np.empty(len(order))
        calibrator = self.index.calibrator_across if across else self.index.calibrator
        conf[order] = np.minimum.accumulate(calibrator.predict(features(ranking))[order])
        hits = []
        for j in order:
            entry = self.index.entries[int(ranking.entries[j])]
            if query.category and entry.category != query.category:
                continue
            hits.append(Hit(entry, entry.in_lang(query.lang), float(ranking.score[j]), float(conf[j]),
                            self.index.vectors.phrase_text[int(ranking.best_row[j])]))
            if len(hits) == query.k:
                break
        decision = decide(hits[0].confidence if hits else 0.0, len(hits), self.decision_thresholds,
                          names_unknown=self.limit_unwritten_names
                          and (ranking.unknown_latin_names if across else ranking.unknown_names) > 0)
        fallback = None if decision is Decision.ANSWER else self.fallback.get(query.lang)
        return SearchResult(query.text, query.lang, decision, hits, fallback)

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
