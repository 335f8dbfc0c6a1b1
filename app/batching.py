"""Micro-batching: concurrent searches share one encoder call (`Engine.encode`).

The service puts one in front of its engine (`app.serving.make_served`; `AURORA_BATCH_MAX=1`
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
e5 whatever the batch sizes. Both defaults are measured (docs/decisions/004-micro-batch-size.md).
The search route answers a question already in the engine's cache (`Engine.cached`) before it
reaches the batcher.

A search whose client has gone (`abandoned`, set by the route when the connection closes) is
dropped when its batch is taken, before it costs an encoder call: a typing shopper's widget
aborts the request for the previous keystroke.

There is no thread of its own: the request threads (FastAPI's threadpool, since routes are
plain `def`) take turns leading a batch. The leader of a batch encodes it, hands the lead to
the oldest waiting search, answers its batch, then returns its own answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from aurora_faq.engine import Engine, SearchResult
from aurora_faq.query import Query

MAX_BATCH = 8
MAX_INFLIGHT = 2


class SearchAbandoned(Exception):
    """The search's client went away before the search started; nothing was encoded for it."""


@dataclass
class _Job:
    query: Query
    abandoned: threading.Event | None = None
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
    """

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH, max_inflight: int = MAX_INFLIGHT) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._lock = threading.Lock()
        self._queue: list[_Job] = []  # waiting; never empty while fewer than max_inflight run
        self._running = 0

    def search(self, query: Query, abandoned: threading.Event | None = None) -> SearchResult:
        """Answer one question, batched with whatever else arrives meanwhile (see `Engine.search`).

        Raises:
            SearchAbandoned: `abandoned` was set before the search's batch started.
        """
        job = _Job(query, abandoned)
        with self._lock:
            self._queue.append(job)
            if self._running < self.max_inflight:
                batch = self._take()  # this job alone: the queue is empty while a batch can start
                if batch:
                    self._running += 1
                    job.batch = batch
        if job.batch is None:
            job.done.wait()  # answered, or handed a batch to run
        if job.batch is not None:
            self._run(job.batch)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        """The next batch off the queue, without the abandoned jobs, which are told so (the lock is
        held). Empty when every waiting job was abandoned."""
        batch: list[_Job] = []
        while self._queue and len(batch) < self.max_batch:
            job = self._queue.pop(0)
            if job.abandoned is not None and job.abandoned.is_set():
                job.error = SearchAbandoned()
                job.done.set()
            else:
                batch.append(job)
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
            nxt = self._take()
            if nxt:
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
            job.result = self.engine.answer(job.query, vec)
        except Exception as e:  # raised again in the job's own request thread
            job.error = e
