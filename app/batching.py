"""Micro-batching: concurrent searches share one encoder call (`Engine.search_many`).

The service puts one in front of its engine (`app.main.make_batcher`; `AURORA_BATCH_MAX=1`
turns it off). Encoding one query per call leaves the encoder's batch path unused, and
concurrent calls fight over the cores. Here every search joins a queue. While fewer than
`max_inflight` batches run, a search starts a batch at once, alone: there is no waiting
window, so a lone shopper pays nothing. Searches that arrive while the batches run wait, and
run together as the next batch (up to `max_batch`), so the batch size follows the load by
itself. A second batch in flight (`AURORA_BATCH_INFLIGHT=2`) lets one batch's single-threaded
stages (USE, ranking) overlap the next one's e5, at the price of two e5 calls sharing the
cores; which wins depends on the load (bench/README.md), one is the default.
A search already in the engine's cache (`cached`) is answered before it could queue.

There is no thread of its own: the request threads (FastAPI's threadpool, since routes are
plain `def`) take turns leading a batch. The leader of a batch hands the lead to the oldest
waiting search when it is done, then returns its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aurora_faq.search import Engine, SearchResult

CacheLookup = Callable[[str, int, str | None, str | None], SearchResult | None]


@dataclass
class _Job:
    query: str
    k: int
    lang: str | None
    category: str | None
    done: threading.Event = field(default_factory=threading.Event)
    batch: list[_Job] | None = None  # set when this job's thread is to run that batch
    result: SearchResult | None = None
    error: BaseException | None = None


class MicroBatcher:
    """Drop-in for `Engine.search` that batches concurrent calls.

    Args:
        engine: the loaded engine.
        max_batch: most searches encoded in one call.
        max_inflight: most batches running at once.
        cached: answers a search from the engine's cache without queueing, when given, so a
            repeated query never waits behind a running batch.
    """

    def __init__(self, engine: Engine, max_batch: int = 32, max_inflight: int = 1,
                 cached: CacheLookup | None = None) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._cached = cached
        self._lock = threading.Lock()
        self._queue: list[_Job] = []  # waiting; never empty while fewer than max_inflight run
        self._running = 0

    def search(self, query: str, k: int = 3, lang: str | None = None,
               category: str | None = None) -> SearchResult:
        """Answer one question, batched with whatever else arrives meanwhile (see `Engine.search`)."""
        if self._cached is not None:
            hit = self._cached(query, k, lang, category)
            if hit is not None:
                return hit
        job = _Job(query, k, lang, category)
        with self._lock:
            self._queue.append(job)
            if self._running < self.max_inflight:
                self._running += 1
                job.batch = self._take()
        if job.batch is None:
            job.done.wait()  # answered, or handed a batch to run
        if job.batch is not None:
            self._run(job.batch)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        """The next batch off the queue (the lock is held)."""
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        return batch

    def _run(self, batch: list[_Job]) -> None:
        successor = None
        try:
            groups: dict[tuple[int, str | None, str | None], list[_Job]] = {}
            for job in batch:
                groups.setdefault((job.k, job.lang, job.category), []).append(job)
            for (k, lang, category), jobs in groups.items():
                self._answer(jobs, k, lang, category)
        finally:
            with self._lock:
                if self._queue:  # the oldest waiting search runs the next batch
                    nxt = self._take()
                    successor, successor.batch = nxt[0], nxt
                else:
                    self._running -= 1
            for job in batch:
                job.batch = None
                if job.result is None and job.error is None:  # interrupted before answering
                    job.error = RuntimeError("the search batch did not complete")
                job.done.set()
            if successor is not None:
                successor.done.set()

    def _answer(self, jobs: list[_Job], k: int, lang: str | None, category: str | None) -> None:
        try:
            results = self.engine.search_many([j.query for j in jobs], k=k, lang=lang, category=category)
        except Exception:
            # One bad query must not fail the others: answer each on its own.
            for job in jobs:
                self._answer_alone(job)
            return
        for job, result in zip(jobs, results, strict=True):
            job.result = result

    def _answer_alone(self, job: _Job) -> None:
        try:
            job.result = self.engine.search_many([job.query], k=job.k, lang=job.lang,
                                                 category=job.category)[0]
        except Exception as e:  # raised again in the job's own request thread
            job.error = e
