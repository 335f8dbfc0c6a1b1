"""Above the size threshold the index is approximate (IVF): search then returns the same top
entries as exact search, on a synthetic FAQ small enough for a test with the threshold lowered."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

import aurora_faq.index as index_module
import aurora_faq.search as search_module
from aurora_faq.build import build_index
from aurora_faq.encoders import FakeEncoder
from aurora_faq.index import load_index, make_ann
from aurora_faq.search import Engine
from aurora_faq.text import default_tokenizer
from bench import synth_faq


def test_small_faqs_get_an_exact_index() -> None:
    vecs = FakeEncoder().encode_queries(["送料", "returns", "coupon"])
    assert type(make_ann(vecs)).__name__ == "IndexFlatIP"


def test_approximate_search_finds_the_entries_exact_search_finds(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    faq = synth_faq.write_faq(tmp_path / "faq.jsonl", 1500)  # 6,000 phrasing rows
    monkeypatch.setattr(index_module, "IVF_THRESHOLD", 1000)
    monkeypatch.setattr(search_module, "CANDIDATE_ROWS", 1000)
    build_index(faq, tmp_path / "index", FakeEncoder(), cache_dir=None)
    index = load_index(tmp_path / "index", "fake", default_tokenizer())
    assert isinstance(index.ann, faiss.IndexIVF) and index.ann.nprobe >= index_module.IVF_MIN_PROBES
    engine = Engine(index, FakeEncoder(), cache_size=0)
    queries = synth_faq.queries(40)
    approximate = [[h.entry.id for h in engine.search(q, k=5).hits] for q in queries]
    monkeypatch.setattr(search_module, "CANDIDATE_ROWS", 10**9)  # every entry scored
    exact = [[h.entry.id for h in engine.search(q, k=5).hits] for q in queries]
    assert all(len(a) == 5 for a in approximate)
    # The top entry always, and nearly all of the top five (ties may order differently).
    assert [a[0] for a in approximate] == [e[0] for e in exact]
    assert np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approximate, exact, strict=True)]) >= 0.95
