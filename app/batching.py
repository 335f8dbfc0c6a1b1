"""Micro-batching: concurrent searches share one encoder call (`Engine.search_many`).

Encoding one query per call leaves the encoder's batch path unused, and concurrent calls
fight over the cores. Here every search joins a queue. When no batch is running, the first
search runs at once, alone: there is no waiting window, so a lone shopper pays nothing.
Searches that arrive while a batch runs wait, and run together as the next batch (up to
`max_batch`), so the batch size follows the load by itself.

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
    lead: bool = False
    result: SearchResult | None = None
    error: BaseException | None = None


class MicroBatcher:
    """Drop-in for `Engine.search` that batches concurrent calls.

    Args:
        engine: the loaded engine.
        max_batch: most searches encoded in one call.
        cached: answers a search from the engine's cache without queueing, when given, so a
            repeated query never waits behind a running batch.
    """

    def __init__(self, engine: Engine, max_batch: int = 32, cached: CacheLookup | None = None) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._cached = cached
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._running = False

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
            if not self._running:
                self._running = job.lead = True
        if not job.lead:
            job.done.wait()
        if job.lead and job.result is None and job.error is None:
            self._run_batch()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            groups: dict[tuple[int, str | None, str | None], list[_Job]] = {}
            for job in batch:
                groups.setdefault((job.k, job.lang, job.category), []).append(job)
            for (k, lang, category), jobs in groups.items():
                self._answer(jobs, k, lang, category)
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is not None:
                    successor.lead = True
                else:
                    self._running = False
            for job in batch:
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
