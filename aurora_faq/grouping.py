"""What shoppers asked, gathered by meaning, and drafted as FAQ lines for the author to paste.

Two texts are one *phrasing* when they read the same: `phrasing_key` folds width and case
(`text.normalize`), katakana into hiragana, kanji into their kana reading and drops punctuation
and spaces, so `ギフト券つかえる？`, `ｷﾞﾌﾄ券使える` and `ギフト券 使える` count as one.

Phrasings are then *grouped* by meaning: their query vectors, each less the mean vector of the
FAQ's own phrasings in its language (`language_centres`), clustered by scikit-learn's
agglomerative clustering, average linkage, cut at a cosine distance of `DISTANCE_THRESHOLD`.
With e5+use any two shop questions are 0.77-0.87 alike (ギフト券つかえる？ is 0.87 from
商品券で払えますか, 0.80 from 送料はいくらですか); less the mean of their language, what is left
is the topic (0.50 and 0.17), and a translation stays nearer than another topic (can I pay with
a gift card: 0.33 from ギフト券つかえる？, 0.15 from 送料はいくらですか). On 41 questions of nine topics not in the
FAQ, in both languages, and 20 others, 0.6 merged no two topics but shipping fees with free
shipping, and split five (ギフト券 from ギフトカード); 0.55 split seven, 0.65 put 返品したい with
退会したい.

Drafts are never applied: `draft_entry` proposes a new entry (its answer left empty, so the
build refuses the line until it is written), `with_alternates` an existing entry's line with
phrasings added. Texts holding a masking token (`<email>`...) stay out of drafts.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from .encoders import Encoder
from .faq import Entry
from .masking import CARD, EMAIL, ORDER, PHONE
from .text import Tokenizer, default_tokenizer, detect_lang, normalize, to_hiragana

DISTANCE_THRESHOLD = 0.6  # cosine distance of centred vectors, average linkage (see above)
MAX_PHRASINGS = 200  # distinct phrasings encoded at most: e5+use takes ~20 ms each on a busy core
# Encoded this many a call: a long call holds e5's wide team and the service's searches wait
# behind it (`encoders.E5Encoder`); between short calls they get their turn.
ENCODE_CHUNK = 16
MAX_DRAFT_ALTERNATES = 10
TODO_NOTE = "TODO: write the answer (the build refuses an empty one)"

_KANJI = "\u3005\u3006\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A run of kanji and hiragana holding a kanji: read as a whole, so okurigana stay with their kanji.
_READABLE = re.compile(f"[\u3041-\u309f{_KANJI}]*[{_KANJI}][\u3041-\u309f{_KANJI}]*")
_MASKED = re.compile("|".join(re.escape(token) for token in (EMAIL, PHONE, ORDER, CARD)))
_ALL = ""  # `language_centres` key of the mean over every language


def phrasing_key(text: str, tokenizer: Tokenizer | None = None) -> str:
    """What two spellings of one phrasing share: normalized, kana for kanji and katakana, no
    punctuation or spaces (`gift card?` and `Gift  card` are one)."""
    tokenizer = tokenizer or default_tokenizer()
    folded = _READABLE.sub(lambda m: tokenizer.reading(m[0]), normalize(text))
    key = "".join(c for c in to_hiragana(folded) if unicodedata.category(c)[0] in "LN")
    return key or normalize(text)


def is_masked(text: str) -> bool:
    """Whether `text` holds a token `masking.mask` put in place of personal data."""
    return _MASKED.search(text) is not None


def language_centres(phrases: np.ndarray, langs: Sequence[str]) -> dict[str, np.ndarray]:
    """The mean of the FAQ's phrasing vectors in each of its languages, and over all (key "").

    Args:
        phrases: the index's phrasing vectors (`Vectors.phrases`: query vectors of the
            normalized phrasings, as `group_texts` makes them).
        langs: the language of each row (`Vectors.phrase_lang`).
    """
    of_lang = np.asarray(langs)
    centres = {lang: phrases[of_lang == lang].mean(axis=0) for lang in sorted(set(langs))}
    centres[_ALL] = phrases.mean(axis=0)
    return centres


@dataclass(frozen=True)
class Phrasing:
    text: str  # its most frequent spelling
    lang: str  # the language it is written in
    count: int  # how many of the grouped texts are this phrasing
    centrality: float  # cosine to its group's centre (1.0 alone)


@dataclass(frozen=True)
class QueryGroup:
    """Texts of one meaning."""

    phrasings: list[Phrasing]  # most typical first: most asked, then most central
    members: list[int]  # positions in the grouped texts

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def langs(self) -> list[str]:
        return sorted({p.lang for p in self.phrasings})

    @property
    def central(self) -> str:
        """The phrasing nearest the group's centre: the one that says it best."""
        return max(self.phrasings, key=lambda p: p.centrality).text


@dataclass(frozen=True)
class Grouping:
    groups: list[QueryGroup]  # largest first
    ungrouped: list[int]  # texts of the phrasings past `max_phrasings`, left out to bound the encoding


@dataclass
class _Distinct:
    key: str
    spellings: Counter[str]
    members: list[int]

    @property
    def text(self) -> str:
        return self.spellings.most_common(1)[0][0]  # ties: the first seen


def _distinct(texts: Sequence[str], tokenizer: Tokenizer) -> list[_Distinct]:
    """Texts as phrasings, most asked first (ties: first seen)."""
    found: dict[str, _Distinct] = {}
    for i, text in enumerate(texts):
        key = phrasing_key(text, tokenizer)
        d = found.setdefault(key, _Distinct(key, Counter(), []))
        d.spellings[text] += 1
        d.members.append(i)
    return sorted(found.values(), key=lambda d: -len(d.members))


def _centred(vectors: np.ndarray, langs: Sequence[str], centres: dict[str, np.ndarray]) -> np.ndarray:
    out = vectors - np.vstack([centres.get(lang, centres[_ALL]) for lang in langs])
    unit: np.ndarray = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return unit


def group_texts(texts: Sequence[str], encoder: Encoder, centres: dict[str, np.ndarray], *,
                threshold: float = DISTANCE_THRESHOLD, max_phrasings: int = MAX_PHRASINGS,
                tokenizer: Tokenizer | None = None) -> Grouping:
    """Group `texts` by meaning (see the module docstring).

    Args:
        texts: what shoppers asked, one text a search (repeats count).
        encoder: the index's encoder, whose query vectors `centres` were made from.
        centres: `language_centres` of the index.
        threshold: the cosine distance at which clusters stop merging.
        max_phrasings: the most asked this many phrasings are encoded and grouped; the rest
            are returned as `ungrouped`.
        tokenizer: for `phrasing_key`.

    Returns:
        The groups, largest first, and the texts left out.
    """
    tokenizer = tokenizer or default_tokenizer()
    distinct = _distinct(texts, tokenizer)
    kept, rest = distinct[:max_phrasings], distinct[max_phrasings:]
    ungrouped = sorted(i for d in rest for i in d.members)
    if not kept:
        return Grouping([], ungrouped)
    langs = [detect_lang(d.text) for d in kept]
    normalized = [normalize(d.text) for d in kept]
    vectors = _centred(np.vstack([encoder.encode_queries(normalized[i:i + ENCODE_CHUNK])
                                  for i in range(0, len(normalized), ENCODE_CHUNK)]), langs, centres)
    if len(kept) == 1:
        labels = np.zeros(1, np.int64)
    else:
        clustering = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                             distance_threshold=threshold)
        labels = clustering.fit_predict(vectors)
    groups = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        counts = np.array([len(kept[r].members) for r in rows], np.float64)
        centre = counts @ vectors[rows]
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        phrasings = [Phrasing(kept[r].text, langs[r], len(kept[r].members), float(vectors[r] @ centre))
                     for r in rows]
        phrasings.sort(key=lambda p: (-p.count, -p.centrality))
        groups.append(QueryGroup(phrasings, sorted(i for r in rows for i in kept[r].members)))
    groups.sort(key=lambda g: (-g.size, g.members[0]))
    return Grouping(groups, ungrouped)


def faq_line(obj: dict[str, Any]) -> str:
    """One data/faq.jsonl line, written as the file writes them (non-ASCII kept as is)."""
    return json.dumps(obj, ensure_ascii=False)


def _new_id(group: QueryGroup, taken: set[str], tokenizer: Tokenizer) -> str:
    english = [p.text for p in group.phrasings if p.lang == "en" and not is_masked(p.text)]
    words = [w.replace("'", "") for w in tokenizer(english[0])][:4] if english else []
    base = "-".join(words) or "new-" + hashlib.sha1(phrasing_key(group.phrasings[0].text, tokenizer).encode()
                                                    ).hexdigest()[:8]
    new_id, n = base, 1
    while new_id in taken:
        n += 1
        new_id = f"{base}-{n}"
    return new_id


def draft_entry(group: QueryGroup, taken_ids: set[str], category: str = "",
                tokenizer: Tokenizer | None = None) -> dict[str, Any] | None:
    """A new entry for `group` as a data/faq.jsonl object: its question in each language is the
    most typical phrasing there, other phrasings its alternates, its answer empty (`TODO_NOTE`).

    Args:
        group: what shoppers asked.
        taken_ids: ids already used (the FAQ's, and earlier drafts'); the new id is added.
        category: the category to propose; empty for none.
        tokenizer: for the id (English words) and `phrasing_key`.

    Returns:
        The object, or None when every phrasing holds masked data.
    """
    tokenizer = tokenizer or default_tokenizer()
    usable = [p for p in group.phrasings if not is_masked(p.text)]
    if not usable:
        return None
    question: dict[str, str] = {}
    alternates: dict[str, list[str]] = {}
    for p in usable:
        if p.lang not in question:
            question[p.lang] = p.text
        elif len(alternates.setdefault(p.lang, [])) < MAX_DRAFT_ALTERNATES:
            alternates[p.lang].append(p.text)
    entry_id = _new_id(group, taken_ids, tokenizer)
    taken_ids.add(entry_id)
    return {"id": entry_id, "category": category, "question": question,
            "answer": dict.fromkeys(question, ""), "alternates": alternates, "note": TODO_NOTE}


def with_alternates(entry: Entry, texts: Iterable[str],
                    tokenizer: Tokenizer | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """`entry` as a data/faq.jsonl object with `texts` added to its alternates, each in the
    language it is written in; texts that read as one of the entry's phrasings (or as an earlier
    text) or that hold masked data are left out.

    Returns:
        The object, and the alternates added by language (empty when none).
    """
    tokenizer = tokenizer or default_tokenizer()
    seen = {phrasing_key(text, tokenizer) for _, text in entry.phrasings()}
    added: dict[str, list[str]] = {}
    for text in texts:
        key = phrasing_key(text, tokenizer)
        if key in seen or is_masked(text):
            continue
        seen.add(key)
        added.setdefault(detect_lang(text), []).append(text)
    obj = entry.to_json()
    obj["alternates"] = {lang: [*entry.alternates.get(lang, []), *added.get(lang, [])]
                         for lang in dict.fromkeys([*entry.alternates, *added])}
    return obj, added
