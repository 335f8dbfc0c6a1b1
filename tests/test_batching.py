"""The micro-batcher (app/batching.py) answers as the engine does, batches concurrent searches and
sends each error to its own caller; the service uses it, answering cache hits before it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from app.batching import MAX_BATCH, MAX_INFLIGHT, MicroBatcher, SearchAbandoned
from app.main import create_app
from app.settings import Settings
from aurora_faq.encoders import FakeEncoder
from aurora_faq.engine import Engine, SearchResult
from aurora_faq.index import load_index
from aurora_faq.query import Query
from aurora_faq.text import default_tokenizer
from tests.conftest import ClientFactory

# Mixed options, so one batch holds several kinds of question.
MIXED_ARGS: list[dict[str, Any]] = [
    {"text": "送料はいくら"}, {"text": "how can i pay", "k": 2, "lang": "en"}, {"text": "返品したい"},
    {"text": "coupon code", "k": 5}, {"text": "配送日時の指定", "lang": "ja"}, {"text": "order status"},
    {"text": "送料はいくら"}, {"text": "how can i pay", "category": "payment"}]
MIXED = [Query.of(**args) for args in MIXED_ARGS]


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

    def __call__(self, queries: Sequence[Query]) -> np.ndarray:
        self.sizes.append(len(queries))
        if len(self.sizes) == 1:
            time.sleep(self._hold)
        return self._inner(queries)


def concurrently(fn: Any, args: Sequence[Any]) -> list[Any]:
    """Call fn(arg) for every arg from its own thread, the first one leading; results or errors."""
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


@pytest.mark.parametrize("inflight", [1, 2])
def test_concurrent_mixed_searches_answer_as_the_engine_does(engine: Engine, inflight: int) -> None:
    expected = [engine.search(query) for query in MIXED]
    slow = SlowBatches(engine)
    engine.encode = slow  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_batch=4, max_inflight=inflight)
    results = concurrently(batcher.search, MIXED)
    for query, want, got in zip(MIXED, expected, results, strict=True):
        assert isinstance(got, SearchResult), got
        assert got.query == query.text and got.lang == want.lang and got.decision == want.decision
        assert ids(got) == ids(want) and [h.score for h in got.hits] == [h.score for h in want.hits]
    assert sum(slow.sizes) == len(MIXED) and max(slow.sizes) <= 4
    if inflight == 1:  # the rest queued behind the held first batch, whatever their options
        assert slow.sizes == [1, 4, 3]


def test_many_threads_through_one_batcher_all_get_their_own_answer(engine: Engine) -> None:
    queries = [Query.of(**{**args, "text": f"{args['text']} {i}"}) for i in range(6) for args in MIXED_ARGS]
    expected = [ids(engine.search(query)) for query in queries]
    batcher = MicroBatcher(engine, max_batch=8, max_inflight=2)
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(batcher.search, queries))
    assert [r.query for r in results] == [q.text for q in queries]
    assert [ids(r) for r in results] == expected


def test_an_answering_failure_fails_only_its_own_caller(engine: Engine) -> None:
    engine.encode = SlowBatches(engine)  # type: ignore[method-assign]
    answer = engine.answer

    def failing(query: Query, vec: np.ndarray) -> SearchResult:
        if query.text == "how can i pay":
            raise RuntimeError("ranking failed")
        return answer(query, vec)

    engine.answer = failing  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=1)
    asked = [Query.of("送料はいくら"), Query.of("返品したい"), Query.of("how can i pay"), Query.of("order status")]
    results = concurrently(batcher.search, asked)  # the last three share a batch
    assert isinstance(results[2], RuntimeError) and "ranking failed" in str(results[2])
    assert [r.query for i, r in enumerate(results) if i != 2] == ["送料はいくら", "返品したい", "order status"]


def test_an_encoding_failure_reaches_the_caller_whose_query_failed(engine: Engine) -> None:
    inner = SlowBatches(engine)

    def flaky(queries: Sequence[Query]) -> np.ndarray:
        if any(q.text == "boom" for q in queries):
            raise RuntimeError("engine failed on boom")
        return inner(queries)

    engine.encode = flaky  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=1)
    results = concurrently(batcher.search, [Query.of("送料はいくら"), Query.of("boom"), Query.of("how can i pay")])
    assert isinstance(results[1], RuntimeError) and "boom" in str(results[1])
    assert isinstance(results[0], SearchResult) and isinstance(results[2], SearchResult)
    assert inner.sizes == [1, 1]  # "how can i pay" encoded again on its own, "boom" never
    # The batcher is not left stuck: the next search runs.
    assert batcher.search(Query.of("返品したい")).query == "返品したい"


def test_a_lone_search_is_encoded_at_once_by_its_own_thread(engine: Engine) -> None:
    # No window to wait for other searches, no thread to hand it to: the caller encodes it.
    calls: list[tuple[int, list[str]]] = []
    encode = engine.encode

    def recording(queries: Sequence[Query]) -> np.ndarray:
        calls.append((threading.get_ident(), [q.text for q in queries]))
        return encode(queries)

    engine.encode = recording  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_batch=8, max_inflight=1)
    query = Query.of("how can i pay", k=2, lang="en")
    want = Engine(engine.index, FakeEncoder(), cache_size=0).search(query)
    for _ in range(3):  # one after another: each its own batch
        got = batcher.search(query)
        assert (got.query, ids(got), [h.confidence for h in got.hits]) == \
            (want.query, ids(want), [h.confidence for h in want.hits])
    assert calls == [(threading.get_ident(), ["how can i pay"])] * 3


def test_batcher_runs_up_to_max_inflight_batches_at_once(engine: Engine) -> None:
    slow = SlowBatches(engine, hold_s=0.0)
    started = threading.Barrier(2, timeout=5)

    def held(queries: Sequence[Query]) -> np.ndarray:
        started.wait()  # both batches must be encoding together to get past this
        return slow(queries)

    engine.encode = held  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=2)
    results = concurrently(batcher.search, [Query.of("送料はいくら"), Query.of("how can i pay")])
    assert all(isinstance(r, SearchResult) for r in results), results
    assert slow.sizes == [1, 1]


def test_the_next_batch_encodes_while_the_last_one_is_answered(engine: Engine) -> None:
    # One batch in flight: yet the first batch's answering must not hold up the second's
    # encoding, or this deadlocks (the first waits for the second to start encoding).
    second_encoding = threading.Event()
    encode, answer = engine.encode, engine.answer
    calls: list[list[str]] = []

    def recording(queries: Sequence[Query]) -> np.ndarray:
        calls.append([q.text for q in queries])
        if len(calls) == 1:
            time.sleep(0.1)  # the others queue behind the first batch
        else:
            second_encoding.set()
        return encode(queries)

    def waiting(query: Query, vec: np.ndarray) -> SearchResult:
        if query.text in calls[0]:
            assert second_encoding.wait(timeout=10), "the next batch did not start encoding"
        return answer(query, vec)

    engine.encode = recording  # type: ignore[method-assign]
    engine.answer = waiting  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_inflight=1)
    results = concurrently(batcher.search, [Query.of(q) for q in ("送料はいくら", "how can i pay", "返品したい")])
    assert [r.query for r in results] == ["送料はいくら", "how can i pay", "返品したい"], results
    assert calls[0] == ["送料はいくら"] and sorted(calls[1]) == ["how can i pay", "返品したい"]


# -- in the service ---------------------------------------------------------------------------

def test_service_batches_by_default_and_can_be_told_not_to(make_client: ClientFactory) -> None:
    assert (Settings().batch_max, Settings().batch_inflight) == (MAX_BATCH, MAX_INFLIGHT)
    with make_client() as client:
        batcher = client.app.state.serving.current.batcher  # type: ignore[attr-defined]
        assert isinstance(batcher, MicroBatcher)
        assert (batcher.max_batch, batcher.max_inflight) == (MAX_BATCH, MAX_INFLIGHT)
    with make_client(batch_max=1) as client:
        assert client.app.state.serving.current.batcher is None  # type: ignore[attr-defined]
        assert client.get("/v1/search", params={"q": "送料"}).status_code == 200


@pytest.mark.parametrize("batch_max", [1, 8], ids=["unbatched", "batched"])
def test_the_service_answers_a_repeated_question_without_encoding_it(make_client: ClientFactory,
                                                                    batch_max: int) -> None:
    with make_client(batch_max=batch_max) as client:
        engine: Engine = client.app.state.serving.current.engine  # type: ignore[attr-defined]
        encode, encoded = engine.encode, []

        def recording(queries: Sequence[Query]) -> np.ndarray:
            encoded.extend(q.text for q in queries)
            return encode(queries)

        engine.encode = recording  # type: ignore[method-assign]
        first = client.get("/v1/search", params={"q": "送料はいくら", "k": 2}).json()
        again = client.get("/v1/search", params={"q": " 送料はいくら ", "k": 2}).json()  # the same, normalized
        assert again["query"] == " 送料はいくら " and again["results"] == first["results"]
        assert client.get("/v1/search", params={"q": "送料はいくら", "k": 3}).status_code == 200  # another k
    assert encoded == ["送料はいくら", "送料はいくら"]


def test_concurrent_requests_get_the_same_answers_batched_or_not(make_client: ClientFactory) -> None:
    queries = [{"q": args["text"], **{k: v for k, v in args.items() if k != "text"}} for args in MIXED_ARGS] * 3

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


class HeldEncodes:
    """Wraps `Engine.encode`: records every text encoded; a query "hold" waits for `release`."""

    def __init__(self, engine: Engine) -> None:
        self.texts: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self._inner = engine.encode

    def __call__(self, queries: Sequence[Query]) -> np.ndarray:
        self.texts.extend(q.text for q in queries)
        if any(q.text == "hold" for q in queries):
            self.holding.set()
            assert self.release.wait(10)
        return self._inner(queries)


def test_a_search_abandoned_while_it_waits_is_never_encoded(engine: Engine) -> None:
    held = HeldEncodes(engine)
    engine.encode = held  # type: ignore[method-assign]
    batcher = MicroBatcher(engine, max_batch=8, max_inflight=1)
    gone, staying = threading.Event(), threading.Event()
    with ThreadPoolExecutor(3) as pool:
        leader = pool.submit(batcher.search, Query.of("hold"))
        assert held.holding.wait(10)
        abandoned = pool.submit(batcher.search, Query.of("返品したい"), gone)
        kept = pool.submit(batcher.search, Query.of("how can i pay"), staying)
        time.sleep(0.05)  # both queued behind the leader
        gone.set()
        held.release.set()
        assert leader.result(10).query == "hold" and kept.result(10).query == "how can i pay"
        with pytest.raises(SearchAbandoned):
            abandoned.result(10)
    assert held.texts == ["hold", "how can i pay"]


def test_the_service_drops_the_search_of_a_client_that_went_away(settings: Settings, index_dir: Path) -> None:
    """Through a real socket: a request whose client disconnects while it waits for the encoder
    costs no encode; the one after it is answered."""
    engine = Engine(load_index(index_dir, "fake", default_tokenizer()), FakeEncoder())
    held = HeldEncodes(engine)
    engine.encode = held  # type: ignore[method-assign]
    app = create_app(settings.model_copy(update={"batch_inflight": 1}), engine=engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{port}/v1/search"
        with ThreadPoolExecutor(1) as pool:
            leader = pool.submit(httpx.get, base, params={"q": "hold"}, timeout=10)
            assert held.holding.wait(10)
            with pytest.raises(httpx.ReadTimeout):  # the client gives up: the connection closes
                httpx.get(base, params={"q": "返品したい"}, timeout=0.3)
            time.sleep(0.1)  # the server sees the disconnect
            held.release.set()
            assert leader.result(10).status_code == 200
        after = httpx.get(base, params={"q": "how can i pay"}, timeout=10)
        assert after.status_code == 200 and after.json()["query"] == "how can i pay"
    finally:
        server.should_exit = True
        thread.join(10)
    assert held.texts == ["hold", "how can i pay"]
