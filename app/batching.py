"""Micro-batching: concurrent searches share one encoder call (`Engine.encode`).

The service puts one in front of its engine (`app.main.make_batcher`; `AURORA_BATCH_MAX=1`
turns it off). Encoding one query per call leaves the encoder's batch path unused, and
concurrent calls fight over the cores. Here every search joins a queue. While fewer than
`max_inflight` batches are encoding, a search starts a batch at once, alone: there is no
waiting window, so a lone shopper pays nothing. Searches that arrive meanwhile wait, and are
encoded together as the next batch (up to `max_batch`), so the batch size follows the load
by itself.

A batch is encoded, then answered (`Engine.answer_vectors`: ranking, calibration). The lead
passes on between the two, so the next batch encodes while this one is ranked. Two batches
encode at once by default (`AURORA_BATCH_INFLIGHT`): e5 splits a lone call across both cores
and runs calls side by side on one core each (`E5Encoder`), so under load both cores stay on
e5 whatever the batch sizes.
A search already in the engine's cache (`cached`) is answered before it could queue.

There is no thread of its own: the request threads (FastAPI's threadpool, since routes are
plain `def`) take turns leading a batch. The leader of a batch encodes it, hands the lead to
the oldest waiting search, answers its batch, then returns its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

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
        max_inflight: most batches encoding at once.
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
        self.engine.check_query(query, k, lang)  # a bad query fails here, never in a batch
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
        vecs: list[np.ndarray | None] = [None] * len(batch)
        try:
            vecs = self._encode(batch)
        finally:
            # The lead passes on as soon as the batch is encoded: its ranking then overlaps
            # the next batch's encoding instead of leaving a core idle.
            self._pass_lead()
        try:
            for job, vec in zip(batch, vecs, strict=True):
                if vec is not None:
                    self._answer(job, vec)
        finally:
            for job in batch:
                job.batch = None
                if job.result is None and job.error is None:  # interrupted before answering
                    job.error = RuntimeError("the search batch did not complete")
                job.done.set()

    def _pass_lead(self) -> None:
        """The oldest waiting search leads the next batch; else one batch fewer runs."""
        successor = None
        with self._lock:
            if self._queue:
                nxt = self._take()
                successor, successor.batch = nxt[0], nxt
            else:
                self._running -= 1
        if successor is not None:
            successor.done.set()

    def _encode(self, batch: list[_Job]) -> list[np.ndarray | None]:
        """Each job's query vector, one encoder call for all; None where the job failed."""
        try:
            return list(self.engine.encode([job.query for job in batch]))
        except Exception:
            # One bad query must not fail the others: encode each on its own.
            out: list[np.ndarray | None] = []
            for job in batch:
                try:
                    out.append(self.engine.encode([job.query])[0])
                except Exception as e:  # raised again in the job's own request thread
                    job.error = e
                    out.append(None)
            return out

    def _answer(self, job: _Job, vec: np.ndarray) -> None:
        try:
            job.result = self.engine.answer_vectors([job.query], vec[None, :], k=job.k, lang=job.lang,
                                                    category=job.category)[0]
        except Exception as e:  # raised again in the job's own request thread
            job.error = e
