"""Suggestions as the shopper types: the FAQ questions that the partial text begins, starts a
word of, or occurs in, fast enough for every keystroke and without the encoder.

Text on both sides is folded the same way: `text.normalize` (NFKC and case-folded, so a
half-width ｸｰﾎﾟ is クーポ) and katakana as hiragana (so クーポ and くーぽ meet). An entry is
indexed by its questions and alternates in both languages and, where they hold kanji, by their
kana reading too (返品 is also へんぴん), so text the IME has not converted yet meets the kanji;
romaji it has not turned into kana yet (くーp) is dropped from the end.

Every such form of every entry goes into one string, best first (shorter, then in FAQ order),
held as code points in numpy arrays beside a sorted array of its character bigrams. The typed
text's rarest bigram gives the places it may occur, its other characters, each compared at all
those places at once, keep the places where all of it does, and each is graded by where it starts:

    3  the start of a phrasing   クーポ  → クーポンコードの使い方がわかりません。
    2  the start of a word       返      → サイズが合わない場合、返品・交換はできますか？
    1  anywhere (Japanese only)  送料    → 配送料はいくらですか

A word starts where the script changes (a hiragana one only after a space or punctuation: after
kanji, hiragana is an ending or a particle). Latin text and a single character match word starts
only: `coup` finds "coupon", never "recoup". An entry is suggested once, at its best grade, and
within a grade by its shortest matching form, then its place in the FAQ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from .faq import Entry
from .text import Tokenizer, default_tokenizer, detect_lang, normalize, to_hiragana

# Between forms in the index string: `normalize` turns every newline into a space, so neither a
# form nor typed text holds one, and no match can run from one form into the next.
_SEP = "\n"
_KANJI = "\u3005\u3006\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_KANJI = re.compile(f"[{_KANJI}]")
# What the tokenizer is asked to read: a run of kanji and hiragana, e.g. が合わなかった場合.
_READABLE = re.compile(f"([\u3041-\u309f{_KANJI}]+)")
# Romaji the IME has not turned into kana yet, as in くーp: dropped.
_IME_TAIL = re.compile(r"(?<=[\u3041-\u30ff])[a-z]{1,3}$")

_OTHER, _LATIN, _HIRA, _KATA, _HAN = range(5)
_SCRIPTS = [  # (script, first, last code point); the rest is _OTHER (spaces, punctuation)
    (_LATIN, 0x30, 0x39), (_LATIN, 0x61, 0x7A), (_LATIN, 0xC0, 0x24F),
    (_HIRA, 0x3041, 0x309F),
    (_KATA, 0x30A1, 0x30FA), (_KATA, 0x30FC, 0x30FF), (_KATA, 0x31F0, 0x31FF),  # not ・ (30FB)
    (_HAN, 0x3005, 0x3006), (_HAN, 0x3400, 0x4DBF), (_HAN, 0x4E00, 0x9FFF), (_HAN, 0xF900, 0xFAFF),
    (_HAN, 0x20000, 0x3FFFF),
]
_GRADES = (3, 2, 1)

Codes = npt.NDArray[np.uint32]
_NOWHERE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An FAQ question to offer for what the shopper has typed so far."""

    id: str
    question: str  # the entry's question in `lang`
    lang: str  # the asked language when the entry has it, else the entry's own
    category: str


def _codes(text: str) -> Codes:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def _scripts(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
    out = np.full(codes.shape, _OTHER, dtype=np.int8)
    for script, first, last in _SCRIPTS:
        out[(codes >= first) & (codes <= last)] = script
    return out


def _is_latin(char: str) -> bool:
    return any(script == _LATIN and first <= ord(char) <= last for script, first, last in _SCRIPTS)


class _Readings:
    """Kana readings from the tokenizer, each run of kanji and kana read once however often met."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        """`text` with its kanji in hiragana where the tokenizer can read them."""
        parts = _READABLE.split(text)
        parts[1::2] = [self._read(run) for run in parts[1::2]]  # the runs
        return "".join(parts)

    def _read(self, run: str) -> str:
        reading = self._cache.get(run)
        if reading is None:
            reading = self._cache[run] = (self._tokenizer.reading(run) or run) if _HAS_KANJI.search(run) else run
        return reading


class Suggester:
    """Completes partial questions from the FAQ's entries; build once, query from any thread.

    Attributes:
        form_count: how many texts are indexed (phrasings, and readings that differ from them).
    """

    def __init__(self, entries: Sequence[Entry], forms: Sequence[tuple[int, str]]) -> None:
        """Index `forms`, (entry position, normalized text) best first; use `build`."""
        self._entries = list(entries)
        self.form_count = len(forms)
        text = _SEP + _SEP.join([form for _, form in forms]) + _SEP
        written = _codes(text)
        # Per character of the FAQ's alphabet, then spread to the text: one lookup a character.
        seen = np.zeros(0x110000, dtype=bool)
        seen[written] = True
        letters = np.flatnonzero(seen)
        spread = np.zeros(0x110000, dtype=np.int64)
        spread[letters] = np.arange(len(letters))
        at = spread[written]
        # Word starts from the text as written: katakana after hiragana starts a word
        # (のクーポン), which folding to hiragana would hide.
        script = _scripts(letters)[at]
        before = np.concatenate(([_OTHER], script[:-1])).astype(np.int8)
        word_start = (script != _OTHER) & (script != before) & ((script != _HIRA) | (before == _OTHER))
        separators = np.flatnonzero(written == ord(_SEP))
        self._grade = np.where(word_start, 2, 1).astype(np.int8)
        self._grade[separators[:-1] + 1] = 3
        self._grade[separators] = 0
        # The entry at each place (a form's separator is its first place; the last one no one's).
        owners = np.array([entry for entry, _ in forms], dtype=np.int32)
        self._owner = np.append(np.repeat(owners, np.diff(separators)), np.int32(-1))
        # Characters as dense ids of the folded alphabet, so that a bigram and its place fit one
        # int64 and a plain sort indexes them (a stable argsort of the bigrams took twice as long).
        folded = np.where((letters >= 0x30A1) & (letters <= 0x30F6), letters - 0x60, letters)
        self._alphabet = np.unique(folded)
        ids = np.searchsorted(self._alphabet, folded)[at]
        self._ids = ids.astype(np.int32)
        size = self._size = len(ids)
        if len(self._alphabet) ** 2 * size >= 2**62:
            raise ValueError(f"too large to index for suggestions: {size} characters")
        # Each bigram's places, in text order (which is best-first order): bigram * size + place.
        bigrams = ids[:-1] * len(self._alphabet) + ids[1:]
        self._bigrams = np.sort(bigrams * size + np.arange(size - 1))
        # A single character matches word starts only: those places, the same way.
        starts = np.flatnonzero(self._grade >= 2)
        self._initials = np.sort(ids[starts] * size + starts)

    @classmethod
    def build(cls, entries: Sequence[Entry], tokenizer: Tokenizer | None = None) -> Suggester:
        """Index every question and alternate of `entries`, with kana readings of their kanji.

        Args:
            entries: the FAQ, in its own order (the tie-break between equal matches).
            tokenizer: reads the kanji; the shared default one when omitted.

        Returns:
            A suggester over `entries`.
        """
        owners: list[int] = []
        texts: list[str] = []
        for position, entry in enumerate(entries):
            phrasings = [*entry.question.values(), *chain.from_iterable(entry.alternates.values())]
            owners.extend([position] * len(phrasings))
            texts.extend(phrasings)
        written = [normalize(text) for text in texts]
        # Read all at once: one pass of the pattern over the joined texts, not one a text.
        readings = _Readings(tokenizer or default_tokenizer())(_SEP.join(written)).split(_SEP)
        # A reading only where it differs: a phrasing without kanji is its own.
        forms = [*zip(owners, written, strict=True), *((owner, reading) for owner, form, reading
                                           in zip(owners, written, readings, strict=True) if reading != form)]
        best_first = np.lexsort((np.array([p for p, _ in forms]), np.array([len(f) for _, f in forms])))
        return cls(entries, [forms[i] for i in best_first.tolist()])

    def suggest(self, text: str, k: int = 5, lang: str | None = None) -> list[Suggestion]:
        """The entries whose questions `text` may be the start of, best first.

        Args:
            text: what the shopper has typed so far, in any width, kana or case.
            k: at most this many suggestions.
            lang: the language to show questions in; the one `text` is written in when omitted.

        Returns:
            Up to `k` suggestions, one an entry; none for blank text or no match.

        Raises:
            ValueError: `k` is below 1.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        typed = _IME_TAIL.sub("", normalize(text))
        if not typed:
            return []
        lang = lang or detect_lang(typed)
        found = self._best_entries(to_hiragana(typed), k)
        out = []
        for position in found:
            entry = self._entries[position]
            shown = entry.in_lang(lang)
            out.append(Suggestion(entry.id, entry.question[shown], shown, entry.category))
        return out

    def _best_entries(self, typed: str, k: int) -> list[int]:
        places = self._places(typed)
        grades = self._grade[places]
        found: dict[int, None] = {}  # entry positions, in order found
        for grade in _GRADES:
            if grade == 1 and (len(typed) == 1 or _is_latin(typed[0])):
                break
            _add_distinct(self._owner, places[grades == grade], found, k)
            if len(found) >= k:
                break
        return list(found)

    def _places(self, typed: str) -> npt.NDArray[np.int64]:
        """Where `typed` occurs in the index string (single characters: at word starts), in order."""
        wanted = _codes(typed)
        ids = np.searchsorted(self._alphabet, wanted)
        if ids.max() >= len(self._alphabet) or (self._alphabet[ids] != wanted).any():
            return _NOWHERE  # a character no form holds
        if len(ids) == 1:
            return _filed(self._initials, int(ids[0]) * self._size, self._size)
        keys = (ids[:-1] * len(self._alphabet) + ids[1:]) * self._size
        lo = np.searchsorted(self._bigrams, keys)
        hi = np.searchsorted(self._bigrams, keys + self._size)
        rarest = int(np.argmin(hi - lo))
        places: npt.NDArray[np.int64] = self._bigrams[lo[rarest]:hi[rarest]] - (keys[rarest] + rarest)
        if len(ids) > 2:
            # Whole text inside the index string (a start is past the first separator), then
            # the rest of its characters, one at a time: the first checks leave few places.
            places = places[(places > 0) & (places <= self._size - len(ids))]
            for offset in (i for i in range(len(ids)) if i not in (rarest, rarest + 1)):
                places = places[self._ids[places + offset] == ids[offset]]
                if not places.size:
                    break
        return places


def _filed(index: npt.NDArray[np.int64], key: int, size: int) -> npt.NDArray[np.int64]:
    """The places filed under `key` in an index of `key * size + place` values."""
    lo, hi = np.searchsorted(index, [key, key + size])
    places: npt.NDArray[np.int64] = index[lo:hi] - key
    return places


def _add_distinct(owner: npt.NDArray[np.int32], places: npt.NDArray[np.int64], found: dict[int, None],
                  k: int) -> None:
    """Add the entries at `places`, in order, to `found` until it holds `k`."""
    # In growing slices: the first few places usually yield k entries, out of thousands for "a".
    start, step = 0, 32
    while start < len(places):
        for entry in owner[places[start:start + step]].tolist():
            if entry not in found:
                found[entry] = None
                if len(found) >= k:
                    return
        start, step = start + step, step * 4
