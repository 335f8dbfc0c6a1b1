"""The lexical side: BM25 (bm25s) over every phrasing and answer, Japanese-aware tokens.

Scores are reported as a fraction of what a document of average length containing every
query term once would score (unknown terms count with the highest IDF), clipped to 1, so the
scale means the same whatever the query: a signal the calibration can use across queries.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from .text import Tokenizer

# bm25s logs every index build at DEBUG on its own logger.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class LexicalIndex:
    def __init__(self, retriever: bm25s.BM25, tokenizer: Tokenizer) -> None:
        self._bm25 = retriever
        self._tokenize = tokenizer
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
        words = [t for t in dict.fromkeys(self._tokenize(query)) if not t.startswith("~")]
        if not words:
            return 1.0
        vocab = self._bm25.vocab_dict
        indptr, indices = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        known = total = 0.0
        for t in words:
            v = vocab.get(t)
            weight = float(self._idf[v]) if v is not None else self._unknown_idf
            total += weight
            if v is None:
                continue
            docs = indices[indptr[v] : indptr[v + 1]]
            if hidden_docs is None or not np.isin(docs, hidden_docs).all():
                known += weight
        return known / total

    def scores(self, query: str) -> np.ndarray:
        """Normalized BM25 score of every document, in [0, 1]."""
        tokens = list(dict.fromkeys(self._tokenize(query)))
        n_docs = int(self._bm25.scores["num_docs"])
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return np.zeros(n_docs, np.float32)
        # bm25s (Lucene) scores a term idf * tf / (tf + k1 * length_norm): idf / (1 + k1) for
        # one occurrence in an average-length document.
        best = sum(float(self._idf[vocab[t]]) if t in vocab else self._unknown_idf for t in tokens)
        best /= 1 + self._bm25.k1
        raw = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        out: np.ndarray = np.minimum(raw / best, 1.0)
        return out
