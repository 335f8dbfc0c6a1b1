"""The micro-batcher (app/batching.py) answers as the engine does, batches concurrent searches,
sends each error to its own caller, and answers cache hits without queueing; the service uses it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.batching import MicroBatcher
from app.settings import Settings
from aurora_faq.encoders import FakeEncoder
from aurora_faq.errors import QueryError
from aurora_faq.index import load_index
from aurora_faq.search import Engine, SearchResult
from aurora_faq.text import default_tokenizer
from tests.conftest import ClientFactory

# (query, k, lang, category): mixed, so one batch holds several groups
MIXED = [("送料はいくら", 3, None, None), ("how can i pay", 2, "en", None), ("返品したい", 3, None, None),
         ("coupon code", 5, None, None), ("配送日時の指定", 3, "ja", None), ("order status", 3, None, None),
         ("送料はいくら", 3, None, None), ("how can i pay", 3, None, None)]


@pytest.fixture
def engine(index_dir: Path) -> Engine:
    return Engine(load_index(index_dir, "fake", default_tokenizer()), FakeEncoder(), cache_size=0)


def ids(result: SearchResult) -> list[str]:
    return [h.entry.id for h in result.hits]


class SlowBatches:
    """Wraps `Engine.encode`: records batch sizes, holds the first call so others queue."""

    def __init__(self, engine: Engine, hold_s: float = 0.2) -> None:
        self.sizes: list[int] = []
        self._inner = engine.encode
        self._hold = hold_s

    def __call__(self, queries: Sequence[str]) -> np.ndarray:
        self.sizes.append(len(queries))
        if len(self.sizes) == 1:
            time.sleep(self._hold)
        return self._inner(queries)


def concurrently(fn: Any, args: Sequence[Any]) -> list[Any]:
    """Call fn(*arg) for every arg from its own thread, the first one leading; results or errors."""
    out: list[Any] = [None] * len(args)
    gate = threading.Barrier(len(args))

    def run(i: int) -> None:
        gate.wait()
        time.sleep(0.01 * (i > 0))  # the first gets the lead; the rest arrive while it runs
        try:
            out[i] = fn(*args[i])
        except Exception as e:  # returned, checked by the test
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


@pytest.mark.parametrize("inflight", [1, 2])
def test_concurrent_mixed_searches_answer_as_the_engine_does(engine: Engine, inflight: int) -> None:
    expected = [engine.search(*args) for args in MIXED]
    slow = SlowBatches(engine)
    engine.encode = slow  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_batch=4, max_inflight=inflight)
    results = concurrently(batcher.search, MIXED)
    for args, want, got in zip(MIXED, expected, results, strict=True):
        assert isinstance(got, SearchResult), got
        assert got.query == args[0] and got.lang == want.lang and got.decision == want.decision
        assert ids(got) == ids(want) and [h.score for h in got.hits] == [h.score for h in want.hits]
    assert sum(slow.sizes) == len(MIXED) and max(slow.sizes) <= 4
    if inflight == 1:  # the rest queued behind the held first batch; the k=3 ones share a call
        assert max(slow.sizes) > 1


def test_many_threads_through_one_batcher_all_get_their_own_answer(engine: Engine) -> None:
    queries = [(f"{q} {i}", k, lang, cat) for i in range(6) for q, k, lang, cat in MIXED]
    expected = [ids(engine.search(*args)) for args in queries]
    batcher = MicroBatcher(engine, max_batch=8, max_inflight=2)
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda args: batcher.search(*args), queries))
    assert [r.query for r in results] == [q for q, *_ in queries]
    assert [ids(r) for r in results] == expected


def test_a_bad_query_fails_only_its_own_caller(engine: Engine) -> None:
    engine.encode = SlowBatches(engine)  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=1)
    args = [("送料はいくら", 3, None, None), ("\x00\x01", 3, None, None), ("how can i pay", 3, None, None),
            ("返品したい", 3, None, None)]
    results = concurrently(batcher.search, args)
    assert isinstance(results[1], QueryError)
    assert [r.query for i, r in enumerate(results) if i != 1] == ["送料はいくら", "how can i pay", "返品したい"]


def test_an_engine_failure_reaches_the_caller_whose_query_failed(engine: Engine) -> None:
    inner = SlowBatches(engine)

    def flaky(queries: Sequence[str]) -> np.ndarray:
        if "boom" in queries:
            raise RuntimeError("engine failed on boom")
        return inner(queries)

    engine.encode = flaky  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=1)
    results = concurrently(batcher.search, [("送料はいくら",), ("boom",), ("how can i pay",)])
    assert isinstance(results[1], RuntimeError) and "boom" in str(results[1])
    assert isinstance(results[0], SearchResult) and isinstance(results[2], SearchResult)
    # The batcher is not left stuck: the next search runs.
    assert batcher.search("返品したい").query == "返品したい"


def test_cache_hits_skip_the_queue(index_dir: Path) -> None:
    engine = Engine(load_index(index_dir, "fake", default_tokenizer()), FakeEncoder(), cache_size=16)
    first = engine.search("送料はいくら", k=2)

    def fail(*args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("a cache hit must not reach the encoder")

    engine.encode = fail  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, cached=engine.cached)
    again = batcher.search(" 送料はいくら ", k=2)  # another spelling, the same normalized query
    assert again.query == " 送料はいくら " and ids(again) == ids(first)
    with pytest.raises(AssertionError, match="cache hit"):
        batcher.search("送料はいくら", k=3)  # another k: not cached, so it does reach the engine


def test_engine_cached_sees_only_what_search_stored(index_dir: Path) -> None:
    engine = Engine(load_index(index_dir, "fake", default_tokenizer()), FakeEncoder(), cache_size=16)
    assert engine.cached("how can i pay", k=3, lang="en") is None
    result = engine.search("how can i pay", k=3, lang="en")
    hit = engine.cached("How can I pay", k=3, lang="en")
    assert hit is not None and hit.query == "How can I pay" and ids(hit) == ids(result)
    assert engine.cached("how can i pay", k=3, lang="ja") is None
    assert engine.cached("how can i pay", k=3, lang="en", category="shipping") is None
    with pytest.raises(QueryError):
        engine.cached("\x00", k=3)


def test_batcher_lone_call_runs_at_once(engine: Engine) -> None:
    batcher = MicroBatcher(engine)
    result = batcher.search("how can i pay", k=2, lang="en")
    assert len(result.hits) <= 2 and result.lang == "en"
    assert np.isfinite([h.score for h in result.hits]).all()


def test_batcher_runs_up_to_max_inflight_batches_at_once(engine: Engine) -> None:
    slow = SlowBatches(engine, hold_s=0.0)
    started = threading.Barrier(2, timeout=5)

    def held(queries: Sequence[str]) -> np.ndarray:
        started.wait()  # both batches must be encoding together to get past this
        return slow(queries)

    engine.encode = held  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=2)
    results = concurrently(batcher.search, [("送料はいくら",), ("how can i pay",)])
    assert all(isinstance(r, SearchResult) for r in results), results
    assert slow.sizes == [1, 1]


def test_the_next_batch_encodes_while_the_last_one_is_answered(engine: Engine) -> None:
    # One batch in flight: yet the first batch's answering must not hold up the second's
    # encoding, or this deadlocks (the first waits for the second to start encoding).
    second_encoding = threading.Event()
    encode, answer = engine.encode, engine.answer_vectors
    calls: list[list[str]] = []

    def recording(queries: Sequence[str]) -> np.ndarray:
        calls.append(list(queries))
        if len(calls) == 1:
            time.sleep(0.1)  # the others queue behind the first batch
        else:
            second_encoding.set()
        return encode(queries)

    def waiting(queries: Sequence[str], vecs: np.ndarray, **kwargs: Any) -> list[SearchResult]:
        if queries[0] in calls[0]:
            assert second_encoding.wait(timeout=10), "the next batch did not start encoding"
        return answer(queries, vecs, **kwargs)

    engine.encode = recording  # type: ignore[method-assign]
    engine.answer_vectors = waiting  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=1)
    results = concurrently(batcher.search, [("送料はいくら",), ("how can i pay",), ("返品したい",)])
    assert [r.query for r in results] == ["送料はいくら", "how can i pay", "返品したい"], results
    assert calls[0] == ["送料はいくら"] and sorted(calls[1]) == ["how can i pay", "返品したい"]


def test_encode_then_answer_vectors_is_search_many_and_fills_the_cache(index_dir: Path) -> None:
    engine = Engine(load_index(index_dir, "fake", default_tokenizer()), FakeEncoder(), cache_size=16)
    queries = ["送料はいくら", "How can I pay?", "返品したい"]
    want = Engine(engine.index, engine.encoder, cache_size=0).search_many(queries, k=2, lang="en")
    got = engine.answer_vectors(queries, engine.encode(queries), k=2, lang="en")
    assert [(r.query, r.lang, r.decision, ids(r), [h.confidence for h in r.hits]) for r in got] == \
        [(r.query, r.lang, r.decision, ids(r), [h.confidence for h in r.hits]) for r in want]
    hit = engine.cached("how can i pay?", k=2, lang="en")
    assert hit is not None and ids(hit) == ids(got[1])
    with pytest.raises(QueryError):
        engine.answer_vectors(["\x00"], engine.encode(["\x00"]))


# -- in the service ---------------------------------------------------------------------------

def test_service_batches_by_default_and_can_be_told_not_to(make_client: ClientFactory) -> None:
    assert Settings().batch_max > 1
    with make_client() as client:
        assert isinstance(client.app.state.batcher, MicroBatcher)  # type: ignore[attr-defined]
    with make_client(batch_max=1) as client:
        assert client.app.state.batcher is None  # type: ignore[attr-defined]
        assert client.get("/v1/search", params={"q": "送料"}).status_code == 200


def test_concurrent_requests_get_the_same_answers_batched_or_not(make_client: ClientFactory) -> None:
    queries = [{"q": q, "k": k, **({"lang": lang} if lang else {})} for q, k, lang, _ in MIXED] * 3

    def answers(**overrides: object) -> list[tuple[str, list[str]]]:
        with make_client(cache_size=0, **overrides) as client, ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda p: client.get("/v1/search", params=p), queries))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return [(r.json()["query"], [h["id"] for h in r.json()["results"]]) for r in responses]

    batched = answers(batch_max=4, batch_inflight=1)
    assert batched == answers(batch_max=1)
    assert [q for q, _ in batched] == [p["q"] for p in queries]


def test_the_service_runs_blas_on_one_thread_and_restores_it(make_client: ClientFactory) -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        # numpy's OpenBLAS among them. An OpenMP-threaded BLAS (faiss's) reports the calling
        # thread's setting, and TestClient runs the lifespan on a thread of its own: left out.
        return [int(i["num_threads"]) for i in threadpool_info()
                if i["user_api"] == "blas" and i.get("threading_layer") != "openmp"]

    before = blas_threads()
    with make_client():
        assert blas_threads() and set(blas_threads()) == {1}
    assert blas_threads() == before
