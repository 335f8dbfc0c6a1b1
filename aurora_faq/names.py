"""Names a question mentions (companies, services, brands), as the lexical side spells them.

A question about another company's account, plan or store (`Spotifyの支払い方法を変えたい`, `my
Rakuten order hasn't arrived`) reads to an embedding like this shop's own question with one word
more. That word is the evidence: a name the FAQ never writes (`LexicalIndex.unknown_names`),
while `AmazonPayの決済がエラーになる` names a service the FAQ does. What counts as a name:
- a Latin word English hardly uses (pyspellchecker's counts: `spotify`, `rakuten`, `netflix`),
  unless it is one letter from a common word (a typo: `payement`);
- a katakana word UniDic knows as a proper noun or does not know at all (ユニクロ, ネットフリックス);
- a kanji proper noun that is no place or person (佐川): shoppers name their town and themselves.
A name matches the FAQ in any of its spellings: as typed, UniDic's lemma, the English gloss of a
loanword (アマゾン → amazon) or a run-together compound (applepay → apple pay).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from .romaji import english_counts, english_speller
from .text import _EN_STOP, _EN_WORD, _JA_CHARS, Tokenizer, default_tokenizer

# Latin words rarer than this in English (log10 per billion words; `netflix` 1.8, `tokyo` 2.3,
# `login` 2.4) are names, and so are unlisted ones.
NAME_MAX_ZIPF = 2.0
# A word one edit from an English word at least this common is that word mistyped, from this
# length up: shorter names are one edit from some common word (dhl → dal, dpd → dad). Shorter
# typos are caught as one edit from a word the FAQ writes (crad → card), a spelling of the name.
TYPO_OF_ZIPF = 3.0
TYPO_MIN_CHARS = 5
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc]+")
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

Name = tuple[tuple[str, ...], ...]  # the token sequences it may be spelt as in the FAQ


@lru_cache(maxsize=4096)  # build-time tuning asks each question several times
def names(text: str, tokenizer: Tokenizer | None = None) -> tuple[Name, ...]:
    """The names in normalized `text`, each as its alternative spellings in lexical tokens."""
    if not _JA_CHARS.search(text):
        return tuple(_latin(w) for w in _EN_WORD.findall(text) if _is_latin_name(w))
    out = []
    for surface, feature in (tokenizer or default_tokenizer()).morphemes(text):
        if surface.isascii():
            out += [_latin(w) for w in _EN_WORD.findall(surface) if _is_latin_name(w)]
        elif _is_japanese_name(surface, feature):
            lemma, _, gloss = (feature.lemma or surface).partition("-")
            spellings = [(lemma,), (surface,)]
            if gloss.isascii() and gloss:
                spellings.append(tuple(_EN_WORD.findall(gloss.lower())))
            out.append(tuple(dict.fromkeys(spellings)))
    return tuple(out)


def _is_latin_name(word: str) -> bool:
    if word in _EN_STOP or len(word) < 2 or not word.isalpha() or _zipf(word) >= NAME_MAX_ZIPF:
        return False
    return len(word) < TYPO_MIN_CHARS or not any(_zipf(w) >= TYPO_OF_ZIPF for w in _edits(word))


def _is_japanese_name(surface: str, feature: object) -> bool:
    pos2, pos3, lemma = getattr(feature, "pos2", None), getattr(feature, "pos3", None), getattr(feature, "lemma", None)
    if _KATAKANA.fullmatch(surface):
        return lemma is None or pos2 == "固有名詞"
    return bool(_KANJI.search(surface)) and pos2 == "固有名詞" and pos3 in {"一般", "組織"}


def _latin(word: str) -> Name:
    """As typed, split in two known-looking halves (applepay), or mistyped by one letter (padiy)."""
    splits = [(word[:i], word[i:]) for i in range(3, len(word) - 2)]
    return ((word,), *splits, *((w,) for w in _edits(word)))


def _zipf(word: str) -> float:
    counts, total = english_counts()
    count = counts.get(word, 0)
    return math.log10(count * 1e9 / total) if count else 0.0


@lru_cache(maxsize=4096)
def _edits(word: str) -> tuple[str, ...]:
    """Every string one deletion, transposition, replacement or insertion from `word`."""
    return tuple(english_speller().edit_distance_1(word) - {word})
