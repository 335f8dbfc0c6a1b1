"""A shopper's question, validated and normalized once at the boundary, then passed down.

Every caller (the service's routes, the evaluator, the benchmarks) builds a `Query` with
`Query.of`; the engine, the micro-batcher and the cache trust it and never check it again.
Japanese typed in romaji gets its kana reading here (`romaji`): searched as Japanese, shown as typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import QueryError
from .romaji import romaji_reading
from .text import LANGS, detect_lang, normalize

MAX_QUERY_CHARS = 1000
MAX_K = 20
# Problems worded around the field's `{name}` (`QueryError.worded`).
EMPTY = "{name} is empty: send the shopper's question as text"
TOO_LONG = "{name} is {chars} characters; send at most {limit}"
K_RANGE = "{name} must be between 1 and {max_k}, got {k}"


@dataclass(frozen=True)
class Query:
    text: str  # as sent
    normalized: str  # `text.normalize(text)`
    lang: str  # the language to answer in: as asked, else the one it is written in
    written: str  # the language it is written in (`text.detect_lang`; ja for romaji)
    k: int = 3
    category: str | None = None
    reading: str | None = None  # the kana reading of Japanese typed in romaji (`romaji.romaji_reading`)

    @property
    def searched(self) -> str:
        """What both the dense and the lexical side see: romaji's kana reading, else `normalized`."""
        return self.reading or self.normalized

    @classmethod
    def of(cls, text: str, k: int = 3, lang: str | None = None, category: str | None = None) -> Query:
        """Validate and normalize a question.

        Raises:
            QueryError: naming the field (`text`, `k` or `lang`) and what to fix.
        """
        if not isinstance(k, int) or isinstance(k, bool):
            raise QueryError("k", "{name} must be an integer between 1 and {max_k}", max_k=MAX_K)
        if not isinstance(text, str) or not text.strip():
            raise QueryError("text", EMPTY)
        if len(text) > MAX_QUERY_CHARS:
            raise QueryError("text", TOO_LONG, chars=len(text), limit=MAX_QUERY_CHARS)
        normalized = normalize(text)
        if not normalized:
            raise QueryError("text", "{name} holds only control characters or spaces: send readable text")
        if not 1 <= k <= MAX_K:
            raise QueryError("k", K_RANGE, max_k=MAX_K, k=k)
        if lang is not None and lang not in LANGS:
            raise QueryError("lang", "{name} must be one of {langs} (or omitted to detect it), got {lang!r}",
                             langs=", ".join(LANGS), lang=lang)
        reading = romaji_reading(normalized)
        written = "ja" if reading is not None else detect_lang(normalized)
        return cls(text, normalized, lang or written, written, k, category, reading)

    @property
    def cache_key(self) -> tuple[object, ...]:
        """What decides the answer: another spelling of the same normalized question shares it."""
        return (self.normalized, self.k, self.lang, self.category)
