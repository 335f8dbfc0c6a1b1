"""English words mistyped by one letter, put right before a question is searched.

`how do i cancell my oder` embeds far from `cancel my order`: the off-topic detector took it
for off topic (0.95). A word neither English nor the FAQ's own becomes the word one edit away
that is common English and that the FAQ writes (the one it writes most). Only toward the FAQ's
words: toward any English word, `PayPal` became `papal` and a short name another word (`temu` →
`team`). What the shopper typed is still what the answer shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .names import NAME_MAX_ZIPF, TYPO_OF_ZIPF
from .romaji import english_zipf, one_edit
from .text import _EN_STOP, _EN_WORD


def corrected(text: str, written: Callable[[str], int]) -> str:
    """`text` (normalized English) with its one-edit typos put right; `written(word)`: how many
    of the FAQ's documents write `word`."""

    def fix(match: re.Match[str]) -> str:
        word = match.group()
        # English lists rare words and common misspellings too (`oder`, `recieved`): below a
        # name's share they are put right all the same.
        if len(word) < 3 or not word.isalpha() or word in _EN_STOP or written(word) \
                or english_zipf(word) >= NAME_MAX_ZIPF:
            return word
        ours = [w for w in one_edit(word) if written(w) and english_zipf(w) >= TYPO_OF_ZIPF]
        return max(ours, key=lambda w: (written(w), english_zipf(w))) if ours else word

    return _EN_WORD.sub(fix, text)
