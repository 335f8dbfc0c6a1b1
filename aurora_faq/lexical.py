"""The lexical side: BM25 (bm25s) over every phrasing and answer, Japanese-aware tokens.

Scores are reported as a fraction of the best a document could score for this query
(the sum of the query terms' IDF, unknown terms included), so 1.0 means "every query term
matched" whatever the query, a scale the calibration can use across queries.
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

    def scores(self, query: str) -> np.ndarray:
        """Normalized BM25 score of every document, in [0, 1]."""
        tokens = list(dict.fromkeys(self._tokenize(query)))
        n_docs = int(self._bm25.scores["num_docs"])
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return np.zeros(n_docs, np.float32)
        best = sum(float(self._idf[vocab[t]]) if t in vocab else self._unknown_idf for t in tokens)
        raw = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        return np.minimum(raw / best, 1.0)
