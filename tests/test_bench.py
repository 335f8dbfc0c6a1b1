"""The benchmark harness runs on a tiny configuration (fake encoder, a handful of requests), and
its parts behave: query mixes, synthetic FAQs, /proc readers, tables, the micro-batcher.

No timing is asserted anywhere: the benchmarks print figures, these tests only check they run.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.batching import MicroBatcher
from aurora_faq.encoders import FakeEncoder
from aurora_faq.errors import QueryError
from aurora_faq.faq import parse_faq
from aurora_faq.index import load_index
from aurora_faq.search import Engine, SearchResult
from aurora_faq.text import default_tokenizer
from bench import procstat, synth_faq
from bench.table import markdown
from bench.workload import make_mixes, read_query_texts, warmup_texts

REPO = Path(__file__).resolve().parents[1]
QUERIES = REPO / "data" / "eval" / "aurora_queries.jsonl"


def run_script(*argv: str, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# -- the harness, end to end ------------------------------------------------------------------

def test_perf_quick_runs_every_local_target(tmp_path: Path) -> None:
    out = run_script("bench/perf.py", "--quick", "--requests", "6", "--rounds", "2", "--encoder", "fake",
                     "--targets", "aurora,aurora+batch,naive", "--out", str(tmp_path))
    for name in ("encoder ×c", "encoder [c]", "aurora", "aurora+batch", "naive"):
        assert f"| {name} " in out
    assert "server time, in-process ASGI" in out
    assert "Targets:" in out
    assert list(tmp_path.glob("perf-*.json"))


def test_build_bench_tiny(tmp_path: Path) -> None:
    out = run_script("bench/build_bench.py", "--encoder", "fake", "--sizes", "150",
                     "--synthetic-encoder", "fake", "--queries", "10")
    assert "| AuroraBoutique " in out
    assert "| synthetic 150 " in out
    assert "texts re-embedded" in out
    assert "recall@10 rows" in out


# -- parts ------------------------------------------------------------------------------------

def test_mixes_repeat_within_a_level_and_not_across() -> None:
    texts = read_query_texts(QUERIES)
    mixes = make_mixes(texts, levels=3, n=40, repeat_share=0.2, seed=3)
    assert [len(m) for m in mixes] == [40, 40, 40]
    fresh = [{r.text for r in mix if not r.repeat} for mix in mixes]
    assert not (fresh[0] & fresh[1]) and not (fresh[1] & fresh[2])
    for mix in mixes:
        share = sum(r.repeat for r in mix) / len(mix)
        assert 0.1 <= share <= 0.3
        seen: set[str] = set()
        for r in mix:
            assert r.repeat == (r.text in seen)
            seen.add(r.text)
    assert make_mixes(texts, 3, 40, 0.2, seed=3) == mixes
    assert not set(warmup_texts()) & set(texts)


def test_synthetic_faq_is_valid_and_bilingual(tmp_path: Path) -> None:
    path = synth_faq.write_faq(tmp_path / "faq.jsonl", 500)
    entries = parse_faq(path.read_text(encoding="utf-8").splitlines(), str(path))
    assert len(entries) == len({e.id for e in entries}) == 500
    assert all(e.langs == ["ja", "en"] and len(e.phrasings()) == 4 for e in entries)
    assert len({e.question["en"] for e in entries}) == 500
    queries = synth_faq.queries(20)
    assert len(queries) == 20 and any(q.isascii() for q in queries) and not all(q.isascii() for q in queries)


def test_procstat_reads_this_process() -> None:
    import os

    assert procstat.cpu_seconds(os.getpid()) > 0
    mem = procstat.memory_mb(os.getpid())
    assert 0 < mem["rss"] <= mem["hwm"]
    assert procstat.loadavg() >= 0


def test_markdown_table_aligns_numbers() -> None:
    text = markdown(["name", "ms"], [["a", 1.25], ["bb", 10.0]])
    lines = text.splitlines()
    assert lines[1].endswith(":|")
    assert lines[2] == "| a    |  1.2 |" or lines[2] == "| a    |  1.3 |"
    assert len({len(line) for line in lines}) == 1


# -- the micro-batcher ------------------------------------------------------------------------

@pytest.fixture
def engine(index_dir: Path) -> Engine:
    return Engine(load_index(index_dir, "fake", default_tokenizer()), FakeEncoder(), cache_size=0)


class SlowBatches:
    """Wraps `Engine.search_many`: records batch sizes, holds the first call so others queue."""

    def __init__(self, engine: Engine, hold_s: float = 0.2) -> None:
        self.sizes: list[int] = []
        self._inner = engine.search_many
        self._hold = hold_s

    def __call__(self, queries: Sequence[str], **kwargs: Any) -> list[SearchResult]:
        self.sizes.append(len(queries))
        if len(self.sizes) == 1:
            time.sleep(self._hold)
        return self._inner(queries, **kwargs)


def concurrently(fn: Any, args: Sequence[Any]) -> list[Any]:
    """Call fn(arg) for every arg from its own thread, all released together; results or errors."""
    out: list[Any] = [None] * len(args)
    gate = threading.Barrier(len(args))

    def run(i: int) -> None:
        gate.wait()
        time.sleep(0.01 * (i > 0))  # the first gets the lead; the rest arrive while it runs
        try:
            out[i] = fn(args[i])
        except Exception as e:  # returned, checked by the test
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_batcher_answers_like_the_engine_and_batches_concurrent_calls(engine: Engine) -> None:
    queries = ["送料はいくら", "how can i pay", "返品したい", "coupon code", "配送日時の指定", "order status"]
    expected = {q: [h.entry.id for h in engine.search(q).hits] for q in queries}
    slow = SlowBatches(engine)
    engine.search_many = slow  # type: ignore[method-assign,assignment]
    batcher = MicroBatcher(engine, max_batch=4, max_inflight=1)
    results = concurrently(batcher.search, queries)
    for q, r in zip(queries, results, strict=True):
        assert isinstance(r, SearchResult), r
        assert r.query == q and [h.entry.id for h in r.hits] == expected[q]
    assert sum(slow.sizes) == len(queries)
    assert max(slow.sizes) > 1 and max(slow.sizes) <= 4


def test_batcher_keeps_one_bad_query_from_failing_the_batch(engine: Engine) -> None:
    engine.search_many = SlowBatches(engine)  # type: ignore[method-assign,assignment]
    batcher = MicroBatcher(engine, max_inflight=1)
    results = concurrently(batcher.search, ["送料はいくら", "\x00\x01", "how can i pay", "返品したい"])
    assert isinstance(results[1], QueryError)
    assert all(isinstance(r, SearchResult) for i, r in enumerate(results) if i != 1)


def test_batcher_answers_cache_hits_without_queueing(engine: Engine) -> None:
    cached = engine.search("送料はいくら")
    asked: list[str] = []

    def lookup(query: str, k: int, lang: str | None, category: str | None) -> SearchResult | None:
        asked.append(query)
        return cached if query == "送料はいくら" else None

    def fail(*args: Any, **kwargs: Any) -> list[SearchResult]:
        raise AssertionError("a cache hit must not reach the encoder")

    engine.search_many = fail  # type: ignore[method-assign]
    assert MicroBatcher(engine, cached=lookup).search("送料はいくら") is cached
    assert asked == ["送料はいくら"]


def test_batcher_runs_up_to_max_inflight_batches_at_once(engine: Engine) -> None:
    slow = SlowBatches(engine, hold_s=0.0)
    started = threading.Barrier(2, timeout=5)

    def held(queries: Sequence[str], **kwargs: Any) -> list[SearchResult]:
        started.wait()  # both batches must be running together to get past this
        return slow(queries, **kwargs)

    engine.search_many = held  # type: ignore[method-assign,assignment]
    batcher = MicroBatcher(engine, max_inflight=2)
    results = concurrently(batcher.search, ["送料はいくら", "how can i pay"])
    assert all(isinstance(r, SearchResult) for r in results), results
    assert slow.sizes == [1, 1]


def test_batcher_lone_call_runs_at_once(engine: Engine) -> None:
    batcher = MicroBatcher(engine)
    result = batcher.search("how can i pay", k=2, lang="en")
    assert len(result.hits) <= 2 and result.lang == "en"
    assert np.isfinite([h.score for h in result.hits]).all()
