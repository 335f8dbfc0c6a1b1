"""The query mix every target of `bench/perf.py` is sent: labelled shopper questions, ja and en.

A typing shopper repeats herself (retypes after a backspace, asks the question the page
suggested), so a share of each mix repeats a query already sent in the same mix. Each
concurrency level gets its own mix, drawn from one shuffled order of the labelled set, so a
level does not find the previous level's queries in a cache.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Request:
    text: str
    repeat: bool  # an earlier request of the same mix had the same text


def read_query_texts(path: Path) -> list[str]:
    """Distinct query texts of a labelled query file, in file order."""
    texts = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts.append(str(json.loads(line)["query"]))
    return list(dict.fromkeys(texts))


def make_mixes(texts: list[str], levels: int, n: int, repeat_share: float = 0.2,
               seed: int = 0) -> list[list[Request]]:
    """`levels` mixes of `n` requests each.

    Args:
        texts: distinct queries to draw from.
        levels: how many mixes (one per concurrency level).
        n: requests per mix.
        repeat_share: share of each mix that repeats one of its earlier queries.
        seed: the draw is deterministic for a seed.

    Returns:
        Mixes whose fresh queries are disjoint across mixes while the pool lasts; past that,
        queries are reused across mixes and `Request.repeat` still marks repeats within one.
    """
    rng = random.Random(seed)
    order = texts[:]
    rng.shuffle(order)
    fresh_per_mix = n - round(n * repeat_share)
    mixes = []
    cursor = 0
    for _ in range(levels):
        sent: list[str] = []
        mix: list[Request] = []
        for _ in range(n):
            if sent and (rng.random() < repeat_share or len(sent) >= fresh_per_mix):
                # Recent questions are the likeliest to come again.
                text = sent[-1 - min(int(rng.expovariate(0.3)), len(sent) - 1)]
                mix.append(Request(text, repeat=True))
                continue
            text = order[cursor % len(order)]
            cursor += 1
            mix.append(Request(text, repeat=text in sent))
            sent.append(text)
        mixes.append(mix)
    return mixes


def warmup_texts(n: int = 12) -> list[str]:
    """Queries outside every mix: they warm a server without filling its cache for the mix."""
    return [f"warm-up question number {i}" if i % 2 else f"ウォームアップの質問 {i}" for i in range(n)]
