"""Above the size threshold the index is approximate (IVF): search then returns the same top
entries as exact search, on a synthetic FAQ small enough for a test with the threshold lowered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

import aurora_faq.ranking as ranking_module
import aurora_faq.vectors as vectors_module
from aurora_faq.build import build_index
from aurora_faq.encoders import FakeEncoder
from aurora_faq.engine import Engine
from aurora_faq.index import load_index
from aurora_faq.query import Query
from aurora_faq.text import default_tokenizer
from aurora_faq.vectors import make_ann

REPO = Path(__file__).resolve().parents[1]


def test_small_faqs_get_an_exact_index() -> None:
    vecs = FakeEncoder().encode_queries(["送料", "returns", "coupon"])
    assert type(make_ann(vecs)).__name__ == "IndexFlatIP"


def test_approximate_search_finds_the_entries_exact_search_finds(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A catalogue FAQ whose many entries look alike, and shoppers' questions about it, as the
    # build benchmark makes them: 1,500 entries, 6,000 phrasing rows.
    faq, asked = tmp_path / "faq.jsonl", tmp_path / "queries.txt"
    subprocess.run([sys.executable, "bench/synth_faq.py", "--entries", "1500", "--out", str(faq),
                    "--queries", "40", "--queries-out", str(asked)], cwd=REPO, check=True)
    monkeypatch.setattr(vectors_module, "IVF_THRESHOLD", 1000)
    # Large to the build's tuning too, which then keeps the answers from outweighing the phrasings.
    monkeypatch.setattr(ranking_module, "CANDIDATE_ROWS", 1000)
    build_index(faq, tmp_path / "index", FakeEncoder(), cache_dir=None)
    index = load_index(tmp_path / "index", "fake", default_tokenizer())
    ann = index.vectors.ann
    assert isinstance(ann, faiss.IndexIVF) and ann.nprobe >= vectors_module.IVF_MIN_PROBES
    engine = Engine(index, FakeEncoder(), cache_size=0)
    queries = [Query.of(text, k=5) for text in asked.read_text(encoding="utf-8").splitlines()]
    approximate = [[h.entry.id for h in engine.search(q).hits] for q in queries]
    monkeypatch.setattr(ranking_module, "CANDIDATE_ROWS", 10**9)  # every entry scored
    exact = [[h.entry.id for h in engine.search(q).hits] for q in queries]
    assert len(queries) == 40 and all(len(a) == 5 for a in approximate)
    # The top entry always, and nearly all of the top five (ties may order differently).
    assert [a[0] for a in approximate] == [e[0] for e in exact]
    assert np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approximate, exact, strict=True)]) >= 0.95
