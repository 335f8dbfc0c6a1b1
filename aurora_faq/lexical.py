"""The lexical side: BM25 (bm25s) over every phrasing and answer, Japanese-aware tokens.

Scores are reported as a fraction of what a document of average length containing every
query term once would score (unknown terms count with the highest IDF), clipped to 1, so the
scale means the same whatever the query: a signal the calibration can use across queries.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np

from .names import Name, in_latin_letters, names
from .spelling import corrected
from .text import Tokenizer, default_tokenizer

# bm25s logs every index build at DEBUG on its own logger.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# From this many texts up, `build_in_background` builds in a child process: starting one took
# 0.2 s here, tokenizing and indexing this many texts takes seconds.
BACKGROUND_MIN_TEXTS = 20_000


class LexicalIndex:
    def __init__(self, retriever: bm25s.BM25, tokenizer: Tokenizer) -> None:
        self._bm25 = retriever
        self._tokenizer = tokenizer
        # A search asks for its query's scores and then its known share: tokenize once.
        self._query_tokens = lru_cache(maxsize=64)(lambda query: tuple(dict.fromkeys(tokenizer(query))))
        # The engine asks once to encode a query and once to rank it.
        self._corrected = lru_cache(maxsize=256)(lambda query: corrected(query, self._document_count))
        indptr = np.asarray(retriever.scores["indptr"])
        n = int(retriever.scores["num_docs"])
        df = np.diff(indptr)
        self._idf = np.log1p((n - df + 0.5) / (df + 0.5))  # Lucene IDF, as bm25s scores
        self._unknown_idf = math.log1p((n + 0.5) / 0.5)

    @classmethod
    def build(cls, texts: Sequence[str], tokenizer: Tokenizer) -> LexicalIndex:
        retriever = bm25s.BM25()
        # An empty token list would make bm25s drop the document; keep rows aligned.
        corpus = [tokenizer(t) or [""] for t in texts]
        retriever.index(corpus, show_progress=False)
        return cls(retriever, tokenizer)

    @classmethod
    def build_in_background(cls, texts: Sequence[str]) -> Callable[[], LexicalIndex]:
        """Start building the index of `texts` (default tokenizer); call the result for it.

        A large corpus is tokenized and indexed in a child process while the caller embeds:
        at 100,000 entries that is 36 s which the encoder's second core can absorb. A thread
        would not do: tokenizing holds the GIL, and slowed encoding by as much as it took.
        """
        if len(texts) < BACKGROUND_MIN_TEXTS:
            return lambda: cls.build(texts, default_tokenizer())
        # spawn: the parent runs encoder and OpenMP threads, which a forked child must not inherit.
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        future = pool.submit(_build_retriever, list(texts))
        pool.shutdown(wait=False)  # the worker exits once its one job is done

        def result() -> LexicalIndex:
            retriever = future.result()
            # Unpickled arrays carry their own dtype instances, which send np.add.at (bm25s's
            # scoring) down a generic path 30x slower; a view with the builtin dtype does not.
            for key, value in retriever.scores.items():
                if isinstance(value, np.ndarray):
                    retriever.scores[key] = value.view(value.dtype.type)
            return cls(retriever, default_tokenizer())

        return result

    def save(self, path: Path) -> None:
        self._bm25.save(str(path))

    @classmethod
    def load(cls, path: Path, tokenizer: Tokenizer) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(path)), tokenizer)

    def known_share(self, query: str, hidden_docs: np.ndarray | None = None) -> float:
        """IDF-weighted share of the query's words that some visible document contains.

        Questions about topics the FAQ never mentions use words it never uses ("営業時間",
        "size chart"): a signal of an unanswerable question that embeddings blur. Documents
        in `hidden_docs` do not count, so hidden-entry tuning sees the FAQ as it would be.
        """
        words = [t for t in self._query_tokens(query) if not t.startswith("~")]
        if not words:
            return 1.0
        vocab = self._bm25.vocab_dict
        hidden = _as_set(hidden_docs)
        known = total = 0.0
        for t in words:
            v = vocab.get(t)
            weight = float(self._idf[v]) if v is not None else self._unknown_idf
            total += weight
            if self._visible(t, hidden):
                known += weight
        return known / total

    def unknown_names(self, query: str, hidden_docs: np.ndarray | None = None, latin_only: bool = False) -> int:
        """How many names in the query (`names.names`) no visible document writes in any spelling.

        `latin_only`: only names with a spelling in Latin letters count (`Spotify`, and アマゾン
        by its gloss), as for a question in another language than the FAQ's: its documents could
        write those, never a katakana one."""
        unwritten = self.unwritten_names(query, hidden_docs)
        return sum(map(in_latin_letters, unwritten)) if latin_only else len(unwritten)

    def unwritten_names(self, query: str, hidden_docs: np.ndarray | None = None) -> tuple[Name, ...]:
        """The names in the query (`names.names`) that no visible document writes in any spelling."""
        found = names(query, self._tokenizer)
        if not found:
            return ()
        hidden = _as_set(hidden_docs)
        return tuple(name for name in found
                     if not any(all(self._visible(t, hidden) for t in spelling) for spelling in name))

    def corrected(self, query: str) -> str:
        """An English query with its one-edit typos put right, toward the words the FAQ writes."""
        return self._corrected(query)

    def _document_count(self, token: str) -> int:
        v = self._bm25.vocab_dict.get(token)
        return 0 if v is None else int(self._bm25.scores["indptr"][v + 1] - self._bm25.scores["indptr"][v])

    def _visible(self, token: str, hidden: set[int]) -> bool:
        """Whether some document outside `hidden` contains the token."""
        v = self._bm25.vocab_dict.get(token)
        if v is None:
            return False
        start, end = int(self._bm25.scores["indptr"][v]), int(self._bm25.scores["indptr"][v + 1])
        # More documents than are hidden: some stay visible.
        return end - start > len(hidden) or not hidden.issuperset(self._bm25.scores["indices"][start:end].tolist())

    def scores(self, query: str) -> np.ndarray:
        """Normalized BM25 score of every document, in [0, 1]."""
        tokens = self._query_tokens(query)
        n_docs = int(self._bm25.scores["num_docs"])
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return np.zeros(n_docs, np.float32)
        # bm25s (Lucene) scores a term idf * tf / (tf + k1 * length_norm): idf / (1 + k1) for
        # one occurrence in an average-length document.
        best = sum(float(self._idf[vocab[t]]) if t in vocab else self._unknown_idf for t in tokens)
        best /= 1 + self._bm25.k1
        out: np.ndarray = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        # In place, and clipped by a mask: np.minimum over 600,000 float32 took 0.18 ms, this 0.06.
        out *= np.float32(1 / best)
        out[out > 1] = 1
        return out


def _as_set(docs: np.ndarray | None) -> set[int]:
    # A set, not np.isin: build-time tuning asks this thousands of times, with a few dozen
    # hidden documents, and np.isin's overhead was a fifth of a small FAQ's rebuild.
    return set(docs.tolist()) if docs is not None else set()


def _build_retriever(texts: list[str]) -> bm25s.BM25:
    """`LexicalIndex.build`'s retriever, in a child process (the tokenizer stays behind)."""
    return LexicalIndex.build(texts, default_tokenizer())._bm25
