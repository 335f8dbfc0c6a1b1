"""Names a question mentions (companies, services, brands), as the lexical side spells them.

A question about another company's account, plan or store (`Spotifyの支払い方法を変えたい`, `my
Rakuten order hasn't arrived`) reads to an embedding like this shop's own question with one word
more. That word is the evidence: a name the FAQ never writes (`LexicalIndex.unknown_names`),
while `AmazonPayの決済がエラーになる` names a service the FAQ does. What counts as a name:
- a Latin word English hardly uses (pyspellchecker's counts: `spotify`, `rakuten`, `netflix`),
  unless it is one letter from a common word (a typo: `payement`);
- a katakana word UniDic knows as a proper noun or does not know at all (ユニクロ, ネットフリックス);
- a kanji proper noun that is no place or person (佐川): shoppers name their town and themselves.
It counts in a service's role only (`names`): `my Rakuten order`, `bought at Zalando`, not `a
Barbour jacket`. It matches the FAQ in any of its spellings: as typed, UniDic's lemma, the English
gloss of a loanword (アマゾン → amazon) or a run-together compound (applepay → apple pay).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from .romaji import english_zipf, one_edit
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
_CLAUSE_END = re.compile(r"[,.!?;:()]")

Name = tuple[tuple[str, ...], ...]  # the token sequences it may be spelt as in the FAQ


# What a customer has with a company, after its name (`my Rakuten order`, `Spotifyの支払い`).
SERVICE_NOUNS_EN = frozenset("""account app balance bill billing card delivery membership order orders
    package parcel payment payments plan points purchase refund seller shipment shop store subscription
    tracking wallet""".split())
# Before its name (past my/the/a): where something was bought or paid (`bought it on Amazon`).
SERVICE_PREPOSITIONS_EN = frozenset("on at from via through using".split())
_DETERMINERS_EN = frozenset("my the a an your our his her their this that".split())
SERVICE_NOUNS_JA = frozenset("""支払い 支払 決済 解約 契約 プラン 料金 アカウント 会員 ポイント クーポン 注文 荷物
    配達 再配達 配送 残高 明細 請求 サブスク アプリ 利用 登録 返品 返金 予約 機種 カード 運輸 急便 郵便""".split())
PLACE_PARTICLES_JA = frozenset({"で", "から"})  # ユニクロで買った, Amazonから届いた


@lru_cache(maxsize=4096)  # build-time tuning asks each question several times
def in_latin_letters(name: Name) -> bool:
    """Whether one of its spellings is in Latin letters (`Spotify`; アマゾン by its gloss)."""
    return any(all(t.isascii() for t in spelling) for spelling in name)


def names(text: str, tokenizer: Tokenizer | None = None) -> tuple[Name, ...]:
    """The names of companies or services in normalized `text` as it speaks of them: with
    something a customer has there (an account, a plan, an order) or as where they bought or
    paid. A name in another role is left out: `a Barbour jacket`, `ルナのワンピース` name what this
    shop sells, `I'm Yuki` the shopper. Each name comes as its alternative spellings in lexical
    tokens."""
    if not _JA_CHARS.search(text):
        clauses = [_EN_WORD.findall(c) for c in _CLAUSE_END.split(text)]  # "I'm Yuki, my order ..."
        return tuple(_latin(w) for words in clauses for i, w in enumerate(words)
                     if _is_latin_name(w) and _service_role_en(words, i))
    morphemes = (tokenizer or default_tokenizer()).morphemes(text)
    out = []
    for i, (surface, feature) in enumerate(morphemes):
        if surface.isascii():
            words = _EN_WORD.findall(surface)
            if any(_is_latin_name(w) for w in words) and _service_role_ja(morphemes, i):
                out += [_latin(w) for w in words if _is_latin_name(w)]
        elif _is_japanese_name(surface, feature) and _service_role_ja(morphemes, i):
            lemma, _, gloss = (feature.lemma or surface).partition("-")
            spellings = [(lemma,), (surface,)]
            if gloss.isascii() and gloss:
                spellings.append(tuple(_EN_WORD.findall(gloss.lower())))
            out.append(tuple(dict.fromkeys(spellings)))
    return tuple(out)


def _service_role_en(words: list[str], i: int) -> bool:
    """`my Uber Eats order`, `bought at Zalando`: a service noun within the next two words, or a
    place preposition before the name."""
    if any(w in SERVICE_NOUNS_EN for w in words[i + 1 : i + 3]):
        return True
    k = i - 1
    while k >= 0 and words[k] in _DETERMINERS_EN:
        k -= 1
    return k >= 0 and words[k] in SERVICE_PREPOSITIONS_EN


def _service_role_ja(morphemes: Sequence[tuple[str, Any]], i: int) -> bool:
    """`楽天で`, `ヤマト運輸`, `Spotifyの支払い`, `Netflixを解約`: a place particle after the name
    (past the rest of it), a service noun right after it, or の or を and one within the next two
    morphemes."""
    j = i + 1
    while j < len(morphemes) and (morphemes[j][0].isascii() or _KATAKANA.fullmatch(morphemes[j][0])):
        j += 1  # the rest of a name written in parts: Uber Eats, ウーバー イーツ
    following = [_lemma(m) for m in morphemes[j : j + 3]]
    if not following:
        return False
    if following[0] in PLACE_PARTICLES_JA or following[0] in SERVICE_NOUNS_JA:
        return True
    return following[0] in {"の", "を"} and any(w in SERVICE_NOUNS_JA for w in following[1:])


def _lemma(morpheme: tuple[str, Any]) -> str:
    surface, feature = morpheme
    return str(feature.lemma or surface).split("-")[0]


def _is_latin_name(word: str) -> bool:
    if word in _EN_STOP or len(word) < 2 or not word.isalpha() or english_zipf(word) >= NAME_MAX_ZIPF:
        return False
    return len(word) < TYPO_MIN_CHARS or not any(english_zipf(w) >= TYPO_OF_ZIPF for w in one_edit(word))


def _is_japanese_name(surface: str, feature: Any) -> bool:
    if _KATAKANA.fullmatch(surface):
        return feature.lemma is None or feature.pos2 == "固有名詞"
    return bool(_KANJI.search(surface)) and feature.pos2 == "固有名詞" and feature.pos3 in {"一般", "組織"}


def _latin(word: str) -> Name:
    """As typed, split in two known-looking halves (applepay), or mistyped by one letter (padiy)."""
    splits = [(word[:i], word[i:]) for i in range(3, len(word) - 2)]
    return ((word,), *splits, *((w,) for w in one_edit(word)))
