"""Text normalization, language detection and lexical tokenization.

The same `normalize` runs before the dense and the lexical side, at build time and at query
time, so both sides always compare like with like.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

LANGS = ("ja", "en")

_SPACE = re.compile(r"\s+")
# Any kana or CJK ideograph means Japanese: shoppers here write ja or en, and a Japanese
# query often carries English brand names ("Paidy 使えない"), never the reverse.
_JA_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
# Control and invisible format characters (zero-width space, BOM, bidi marks).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Katakana → hiragana is a fixed code-point offset; the long-vowel mark stays as is.
_KATA_TO_HIRA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)}

# Parts of speech that carry no topic: particles, auxiliaries, symbols, blanks.
_SYMBOL_POS = {"補助記号", "記号", "空白"}
_JA_STOP_POS = {"助詞", "助動詞"} | _SYMBOL_POS
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]+")
_EN_STOP = frozenset(
    """a an the i me my we our you your it its is am are was were be been being do does did
    to of in on at for with by from and or but if so can could would should will shall may
    might must have has had this that these those there here what which who how when where
    why please hi hello just about any some""".split()
)


def normalize(text: str) -> str:
    """NFKC (full/half width), case-folded, control characters removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text).casefold()
    return _SPACE.sub(" ", text).strip()


def to_hiragana(text: str) -> str:
    return text.translate(_KATA_TO_HIRA)


def detect_lang(text: str) -> str:
    """`ja` when the text holds any Japanese script, else `en`."""
    return "ja" if _JA_CHARS.search(text) else "en"


def has_content(text: str) -> bool:
    """False for text that is empty once controls and white space are gone."""
    return bool(normalize(text))


class Tokenizer:
    """Lexical tokens for BM25: Japanese lemmas plus their hiragana readings, English words.

    Readings let a hiragana-only query ("くーぽん") meet the katakana or kanji form in the FAQ.
    The MeCab tagger is not thread-safe, hence the lock; tokenizing is microseconds.
    """

    def __init__(self) -> None:
        import fugashi  # deferred: unidic loads in ~0.1 s, not at import time

        self._tagger = fugashi.Tagger()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[str]:
        text = normalize(text)
        if not _JA_CHARS.search(text):
            return [w for w in _EN_WORD.findall(text) if w not in _EN_STOP]
        tokens: list[str] = []
        words = self._words(text)
        for surface, feature in words:
            if feature.pos1 in _JA_STOP_POS:
                continue
            if surface.isascii():
                tokens.extend(w for w in _EN_WORD.findall(surface) if w not in _EN_STOP)
            else:
                tokens.append((feature.lemma or surface).split("-")[0])
        # Bigrams of the reading: the morphological analyser splits hiragana-only text
        # ("くーぽん つかいかた") badly, but its reading still overlaps the FAQ's.
        kana = self._reading(words)
        tokens.extend("~" + kana[i : i + 2] for i in range(len(kana) - 1))
        return tokens

    def reading(self, text: str) -> str:
        """The hiragana reading of Japanese text (返品 → へんぴん), without Latin words and
        punctuation; the text as normalized when it holds no Japanese."""
        text = normalize(text)
        return self._reading(self._words(text)) if _JA_CHARS.search(text) else text

    def morphemes(self, text: str) -> list[tuple[str, Any]]:
        """UniDic's morphemes of `text` as (surface, feature), through the one shared tagger."""
        return self._words(text)

    def _words(self, text: str) -> list[tuple[str, Any]]:
        with self._lock:
            return [(w.surface, w.feature) for w in self._tagger(text)]

    @staticmethod
    def _reading(words: list[tuple[str, Any]]) -> str:
        reading = []
        for surface, feature in words:
            if surface.isascii() or (feature.pos1 in _SYMBOL_POS and not _KANA.fullmatch(surface)):
                continue  # no reading: latin words and punctuation (UniDic tags a lone ぎ a symbol too)
            reading.append(to_hiragana(feature.kana or surface) if _KANJI.search(surface) else to_hiragana(surface))
        return "".join(reading)


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    return Tokenizer()
