"""Japanese typed in Latin letters (romaji): told apart from English, and read as kana.

Shoppers with the IME off type `henpin shitai` or `PayPay tsukaeru?`. The FAQ is written in kana
and kanji, so such a query is searched by its kana reading (`romaji_reading`), in Japanese.

The evidence is weighed word by word:
- can it be spelled in Hepburn or kunrei syllables at all? `credit`, `paypay`, `line` cannot:
  English or a name, kept as typed;
- does an English word list count it (pyspellchecker's, from subtitles)? `ga`, `made` and
  `sushi` are there, `henpin` is not;
- how does the morphological analyser read its kana, in the sentence: as a word (つかえる, an
  inflected one the stronger evidence), a particle (で), a name (しぶや: English questions carry
  names too), or letters and fragments, as `amazon` → あ/ま/ぞ/ん?
The query is romaji when what only Japanese explains outweighs what only English does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import jaconv

from .text import Tokenizer, default_tokenizer, detect_lang

if TYPE_CHECKING:
    from spellchecker import SpellChecker

_VOWELS = "aiueoāīūēōâîûêô"
# One syllable or a mark that belongs to one: a consonant stands only before a vowel, save
# syllabic n, m before b/p/m (Hepburn "shimbun"), a doubled consonant, t or c before "ch", and
# "-" for ー after a vowel (how an IME is typed).
_MORA = (rf"(?:(?:[kgszdtnhbpmr]y?|sh|ch|j|ts|f|w|y)?[{_VOWELS}]|n'?(?![{_VOWELS}y])|n'"
         rf"|m(?=[bpm])|([kgsztdbpfj])(?=\1)|[tc](?=ch)|(?<=[{_VOWELS}])-)")
_SHAPE = re.compile(rf"(?:{_MORA})+")
_WORD = re.compile(rf"[a-z{_VOWELS}]+(?:['\-][a-z{_VOWELS}]+)*-?")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
# Kunrei marks long vowels with a circumflex, Hepburn with a macron; ō is mostly おう (東京).
_LONG_VOWELS = str.maketrans({"ā": "aa", "ī": "ii", "ū": "uu", "ē": "ee", "ō": "ou",
                              "â": "aa", "î": "ii", "û": "uu", "ê": "ee", "ô": "ou"})
# jaconv reads "nn" as ん, as an IME does; written romaji spells んな "nna" (annai, minna).
_NN_BEFORE_VOWEL = re.compile(r"n{2,3}(?=[aiueoy])")
# Particles are written as they sound: は "wa", へ "e", を "o".
_PARTICLES = {"wa": "は", "e": "へ", "o": "を"}
# Katakana by vowel: a vowel after a kana of its own row is a long vowel (カアド → カード).
_ROWS = {"ア": "アカサタナハマヤラワガザダバパャァ", "イ": "イキシチニヒミリギジヂビピィ",
         "ウ": "ウクスツヌフムユルグズヅブプュゥ", "エ": "エケセテネヘメレゲゼデベペェ",
         "オ": "オコソトノホモヨロゴゾドボポョォ"}
_LONG_KATAKANA = [(re.compile(f"(?<=[{row}]){vowel}"), "ー") for vowel, row in _ROWS.items()]
_FRAGMENT_POS = {"記号", "補助記号", "空白"}
_CONTENT_POS = {"名詞", "代名詞", "動詞", "形容詞", "形状詞", "副詞", "連体詞", "接続詞", "感動詞"}
_INFLECTING_POS = {"動詞", "形容詞", "助動詞"}
# Listed English words rarer than this that read as a particle lean Japanese ("ga", "de"), the
# common ones ("to", "no") are no evidence either way.
_LEAN_ZIPF = 5.0

_Morphemes = Sequence[tuple[str, Any]]  # (surface, unidic feature), as `Tokenizer._words` gives


@lru_cache(maxsize=4096)  # jaconv takes 0.1 ms a word; shoppers' words repeat (ga, desu, shitai)
def to_kana(word: str) -> str:
    """Hiragana for one romaji word, Hepburn or kunrei.

    jaconv converts; what it misreads is rewritten first: long vowels with a macron or a
    circumflex, typographic apostrophes, "nn" before a vowel (ん + な, not ん + あ) and "mm".
    """
    word = word.translate(_APOSTROPHES).translate(_LONG_VOWELS)
    word = _NN_BEFORE_VOWEL.sub("n'n", word).replace("mm", "nm")
    return jaconv.alphabet2kana(word)


def romaji_reading(text: str, tokenizer: Tokenizer | None = None) -> str | None:
    """The kana reading of a query typed in romaji, or None when it is not romaji.

    English words and names stay as typed (`paypay つかえる?`); a word becomes katakana when that
    is the loanword the analyser knows (kaado → カード).

    Args:
        text: the query, `text.normalize`d.
        tokenizer: the analyser that reads the kana (the shared default one when None).
    """
    if detect_lang(text) == "ja":
        return None
    text = text.translate(_APOSTROPHES)
    matches = list(_WORD.finditer(text))
    counts = english_counts()[0]
    if not any(m[0] not in counts and _SHAPE.fullmatch(m[0]) for m in matches):
        return None  # English without a name or a typo stops here
    words = [_Word.of(m) for m in matches]
    unseen = sum(w.shaped and not w.english for w in words)
    listed = sum(w.shaped and w.english for w in words)
    if 2 * unseen + listed <= sum(not w.shaped and w.english for w in words):
        return None  # more English than Japanese could outweigh: decided before any analysis
    tokenizer = tokenizer or default_tokenizer()
    morphemes = _morphemes(words, tokenizer)
    evidence = [_evidence(w, m) for w, m in zip(words, morphemes, strict=True)]
    japanese, english = sum(j for j, _ in evidence), sum(e for _, e in evidence)
    if japanese <= english:
        return None
    out, end = [], 0
    for w, found in zip(words, morphemes, strict=True):
        out += [text[end : w.start], _spelling(w, found, tokenizer) if w.converts(found) else w.text]
        end = w.end
    out.append(text[end:])
    return "".join(out)


def load() -> None:
    """Load the English word list now, not on the first query: every query with a Latin word reads it."""
    english_counts()


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    shaped: bool  # spelled wholly in romaji syllables
    count: int  # in the English word list (0: not counted)

    @classmethod
    def of(cls, match: re.Match[str]) -> _Word:
        text = match.group()
        return cls(text, match.start(), match.end(), _SHAPE.fullmatch(text) is not None,
                   english_counts()[0].get(text, 0))

    @property
    def english(self) -> bool:
        return self.count > 0

    @property
    def zipf(self) -> float:
        return english_zipf(self.text)

    @cached_property
    def kana(self) -> str:
        return _PARTICLES.get(self.text) or to_kana(self.text)

    def converts(self, found: _Morphemes) -> bool:
        """Whether a romaji query shows this word as kana: English words stay, save particles."""
        return self.shaped and (not self.english or _particle(found))


@lru_cache(maxsize=1)
def english_speller() -> SpellChecker:
    """pyspellchecker's English list (counts from subtitles), one edit away at most."""
    from spellchecker import SpellChecker  # deferred: 0.2 s to load

    return SpellChecker(language="en", distance=1)


def english_zipf(word: str) -> float:
    """log10 of the word's frequency per billion English words (0 when not counted)."""
    counts, total = english_counts()
    count = counts.get(word, 0)
    return math.log10(count * 1e9 / total) if count else 0.0


@lru_cache(maxsize=4096)
def one_edit(word: str) -> tuple[str, ...]:
    """Every string one deletion, transposition, replacement or insertion from `word`."""
    return tuple(english_speller().edit_distance_1(word) - {word})


@lru_cache(maxsize=1)
def english_counts() -> tuple[dict[str, int], int]:
    """pyspellchecker's English word counts above the list's floor, and their total.

    Most of the list sits at the floor: dictionary words its subtitles never had ("naze" among
    them), no evidence of English.
    """
    frequency = english_speller().word_frequency
    floor = min(frequency.dictionary.values())
    return {w: c for w, c in frequency.dictionary.items() if c > floor}, frequency.total_words


def _morphemes(words: Sequence[_Word], tokenizer: Tokenizer) -> list[list[tuple[str, Any]]]:
    """Each word's morphemes, read in the sentence: the romaji-shaped words as kana, the rest as typed."""
    sentence = " ".join(w.kana if w.shaped else w.text for w in words)
    starts = [m.start() for m in re.finditer(r"\S+", sentence)]
    out: list[list[tuple[str, Any]]] = [[] for _ in words]
    at, i = 0, 0
    # A space never falls inside a morpheme: each belongs to the last word starting before it.
    for surface, feature in tokenizer.morphemes(sentence):
        at = sentence.find(surface, at)
        while i + 1 < len(starts) and starts[i + 1] <= at:
            i += 1
        out[i].append((surface, feature))
        at += len(surface)
    return out


def _evidence(w: _Word, found: _Morphemes) -> tuple[int, int]:
    """How much one word says the query is Japanese, and how much English."""
    if not w.shaped:
        return 0, int(w.english)
    if not w.english:
        return (2 if _inflects(found) else 1, 0) if _reads(found) and not _name(found) else (0, 0)
    if _particle(found):
        return int(w.zipf < _LEAN_ZIPF), 0
    return 0, int(not _reads(found))  # "go" → ご, "time" → ち/め: letters, not words


def _reads(found: _Morphemes) -> bool:
    """Whether the analyser reads a word's kana as Japanese: no letters taken as symbols, no
    fillers or unknown words, and one morpheme or a content word among them (は/ね/だ is no word)."""
    if not found or any(f.pos1 in _FRAGMENT_POS or f.pos2 == "フィラー" or f.lemma is None for _, f in found):
        return False
    return len(found) == 1 or any(f.pos1 in _CONTENT_POS for _, f in found)


def _inflects(found: _Morphemes) -> bool:
    """A verb, an adjective or an ending (つかえる, できない): English questions borrow Japanese
    nouns (sushi, a place), hardly ever its inflected words."""
    return any(f.pos1 in _INFLECTING_POS for _, f in found)


def _particle(found: _Morphemes) -> bool:
    """One particle or auxiliary (で, が, まで): romaji's grammar, though English lists "de" and "made"."""
    return len(found) == 1 and found[0][1].pos1 in {"助詞", "助動詞"}


def _name(found: _Morphemes) -> bool:
    """A place or a person (しぶや, ぎんざ), which English questions name too."""
    return len(found) == 1 and found[0][1].pos2 == "固有名詞"


def _spelling(w: _Word, found: _Morphemes, tokenizer: Tokenizer) -> str:
    """The word's hiragana, or its katakana with long vowels as ー when that is a loanword the
    analyser knows and the hiragana no word of its own (kaado → カード, kakunin → かくにん)."""
    hira = w.kana
    if len(found) == 1 and found[0][1].goshu != "外":
        return hira
    kata = jaconv.hira2kata(hira)
    for vowel, long in _LONG_KATAKANA:
        kata = vowel.sub(long, kata)
    whole = tokenizer.morphemes(kata)
    return kata if len(whole) == 1 and whole[0][1].goshu == "外" else hira
