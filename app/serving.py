"""What answers requests (`Served`: an engine, its micro-batcher and suggester) and how it is
replaced without dropping a request (`Serving`).

A reload loads the index at `Settings.index_path` (which `aurora-build-index` rewrites there
atomically), checks it, and swaps it in with one assignment. A request takes the `Served` it
started with and finishes on it, so requests in flight end on the old engine; each engine keeps
its own answer cache, so nothing cached from the old index is answered after the swap. Checks,
in order; the first that fails refuses the index and the old one keeps serving:

1. the manifest (format, keys), the encoder it was built with (the serving one, which the new
   engine shares), the calibration's feature list, every file readable (`load_index`);
2. smoke queries: each of the first `SMOKE_ENTRIES` entries' questions is answered, and at least
   `SMOKE_MIN_SELF` of them find their own entry first;
3. the evaluation gate, with `Settings.gate_queries` configured: on those labelled questions, the
   new index's top-1 accuracy and refusal rate may not fall more than `Settings.gate_margin`
   below the serving one's.

The engine served before is kept, so `rollback` swaps it back at once. With storage, each swap
is recorded (`storage.events`); the other workers and replicas on the same database poll for it
and do the same (`follow`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from aurora_faq.encoders import Encoder, make_encoder
from aurora_faq.engine import Engine, SearchResult, Thresholds
from aurora_faq.errors import AuroraError, IndexUnavailableError
from aurora_faq.evaluation import engine_search, judge, summarize
from aurora_faq.faq import read_queries
from aurora_faq.index import FaqIndex, load_index, read_manifest
from aurora_faq.query import Query
from aurora_faq.suggest import Suggester
from aurora_faq.text import default_tokenizer

from .batching import MicroBatcher, SearchAbandoned
from .metrics import observe_reload, set_index
from .settings import Settings
from .storage import events

logger = logging.getLogger(__name__)

SMOKE_ENTRIES = 20
SMOKE_MIN_SELF = 0.8


class IndexRefused(Exception):
    """A reload or rollback that was not done; the index serving before still serves."""


@dataclass
class Served:
    """One loaded index and what answers from it."""

    engine: Engine
    batcher: MicroBatcher | None
    suggester: Suggester
    # The evaluation gate's figures on this engine, computed once.
    gate_figures: dict[str, float | None] | None = None

    @property
    def version(self) -> str:
        return self.engine.index.version

    @property
    def built_at(self) -> str:
        return str(self.engine.index.manifest.get("built_at", ""))

    def search(self, query: Query, abandoned: threading.Event) -> SearchResult:
        """The batcher's search, or the engine's when batching is off (`app.deps.Searcher`)."""
        if self.batcher is not None:
            return self.batcher.search(query, abandoned)
        if abandoned.is_set():
            raise SearchAbandoned
        return self.engine.search(query)


@dataclass(frozen=True)
class Swap:
    """What a reload or rollback did."""

    action: str  # "reload" | "rollback"
    version: str
    built_at: str
    previous_version: str | None
    entries: int
    seconds: float
    gate: dict[str, Any] | None = None


def make_engine(index: FaqIndex, encoder: Encoder, settings: Settings) -> Engine:
    """An engine over `index` with the thresholds, fallbacks and cache size `settings` give."""
    return Engine(
        index,
        encoder,
        Thresholds.from_manifest(index.manifest["thresholds"], settings.answer_threshold,
                                 settings.clarify_threshold),
        fallback={"ja": settings.fallback_ja, "en": settings.fallback_en},
        cache_size=settings.cache_size,
        limit_unwritten_names=settings.limit_unwritten_names,
    )


def load_engine(settings: Settings, encoder: Encoder | None = None) -> Engine:
    """Load the index `settings` name, with `encoder` or the one `settings` name.

    Raises:
        IndexUnavailableError: no index, a corrupt or outdated one, or one built with another
            encoder.
    """
    # Reading the manifest first reports a missing index before a model takes seconds to load.
    read_manifest(settings.index_path)
    if encoder is None:
        # Warms up: first-call costs are paid here.
        encoder = make_encoder(settings.encoder, threads=settings.encoder_threads or None)
    index = load_index(settings.index_path, encoder.name, default_tokenizer())
    return make_engine(index, encoder, settings)


def make_served(engine: Engine, settings: Settings) -> Served:
    """`engine` with the micro-batcher `settings` ask for (none when `batch_max` is 1) and a suggester."""
    batcher = None
    if settings.batch_max > 1:
        batcher = MicroBatcher(engine, max_batch=settings.batch_max, max_inflight=settings.batch_inflight)
    return Served(engine, batcher, Suggester.build(engine.index.entries))


def smoke_check(engine: Engine) -> None:
    """Ask the first entries' questions; refuse an engine that fails or does not find them.

    Raises:
        IndexRefused: a question failed, or too few found their own entry first.
    """
    entries = engine.index.entries[:SMOKE_ENTRIES]
    queries = [Query.of(entry.question[entry.langs[0]], k=1) for entry in entries]
    try:
        results = engine.search_many(queries)
    except Exception as e:  # whatever breaks here would break a shopper's search
        raise IndexRefused(f"smoke queries failed: {type(e).__name__}: {e}") from e
    found = sum(bool(r.hits) and r.hits[0].entry.id == entry.id for r, entry in zip(results, entries, strict=True))
    if found < SMOKE_MIN_SELF * len(entries):
        raise IndexRefused(f"smoke queries: only {found} of {len(entries)} entries' own questions find their "
                           f"entry first (at least {SMOKE_MIN_SELF:.0%} needed)")


def gate_figures(engine: Engine, queries_path: Path) -> dict[str, float | None]:
    """Top-1 accuracy and refusal rate of `engine` on the labelled questions at `queries_path`."""
    figures = summarize(judge(read_queries(queries_path), engine_search(engine)))
    return {"top1": figures["recall_at_1"], "refused": figures["refused_rate"]}


def gate_check(new: dict[str, float | None], old: dict[str, float | None], margin: float) -> None:
    """Refuse `new` figures that fall more than `margin` below `old` ones.

    Raises:
        IndexRefused: naming each figure that fell, old and new.
    """
    worse = [f"{name} {new_value:.3f} < serving {old_value:.3f} - margin {margin:.3f}"
             for name, old_value in old.items()
             if old_value is not None and (new_value := new.get(name)) is not None
             and new_value < old_value - margin]
    if worse:
        raise IndexRefused("evaluation gate: " + "; ".join(worse))


@dataclass
class Serving:
    """The served index and the one before it, for one process.

    Args:
        settings: where the index is, how engines are made, the gate.
        current: what serves now; None until the lifespan has loaded an index.
    """

    settings: Settings
    current: Served | None = None
    previous: Served | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reload(self, expect: tuple[str, str] | None = None) -> Swap:
        """Load, check and swap in the index at the configured path.

        Args:
            expect: (version, built_at) the index must have (a reload another replica made);
                the evaluation gate is skipped then: that replica ran it on this same index.

        Raises:
            IndexRefused: a check failed, or another reload is running.
        """
        if not self._lock.acquire(blocking=False):
            raise IndexRefused("another reload or rollback is running; try again when it has finished")
        started = time.perf_counter()
        outcome = "failed"
        try:
            swap = self._reload(expect)
            outcome = "ok"
            return swap
        except IndexRefused:
            outcome = "refused"
            raise
        finally:
            self._lock.release()
            observe_reload(outcome, time.perf_counter() - started)

    def _reload(self, expect: tuple[str, str] | None) -> Swap:
        started = time.perf_counter()
        old = self.current
        try:
            engine = load_engine(self.settings, old.engine.encoder if old else None)
        except IndexUnavailableError as e:
            raise IndexRefused(str(e)) from e
        if expect is not None and (engine.index.version, str(engine.index.manifest.get("built_at", ""))) != expect:
            raise IndexRefused(f"the index at {self.settings.index_path} is not the one reloaded elsewhere "
                               f"(version {engine.index.version}, expected {expect[0]})")
        smoke_check(engine)
        served = make_served(engine, self.settings)
        gate = None
        if self.settings.gate_queries is not None and expect is None:
            gate = self._gate(served, old)
        self.previous, self.current = old, served
        return self._swapped("reload", served, old, started, gate)

    def _gate(self, new: Served, old: Served | None) -> dict[str, Any]:
        assert self.settings.gate_queries is not None
        try:
            new.gate_figures = gate_figures(new.engine, self.settings.gate_queries)
            if old is not None and old.gate_figures is None:
                old.gate_figures = gate_figures(old.engine, self.settings.gate_queries)
        except (AuroraError, OSError, ValueError) as e:
            raise IndexRefused(f"evaluation gate: cannot read {self.settings.gate_queries}: {e}") from e
        serving = old.gate_figures if old is not None else None
        if serving is not None:
            gate_check(new.gate_figures, serving, self.settings.gate_margin)
        return {"new": new.gate_figures, "serving": serving, "margin": self.settings.gate_margin}

    def rollback(self, expect: tuple[str, str] | None = None) -> Swap:
        """Serve the index served before the last swap again.

        Args:
            expect: (version, built_at) the previous index must have (a rollback elsewhere).

        Raises:
            IndexRefused: there is none, it is not the expected one, or a reload is running.
        """
        if not self._lock.acquire(blocking=False):
            raise IndexRefused("a reload or rollback is running; try again when it has finished")
        try:
            started = time.perf_counter()
            back, old = self.previous, self.current
            if back is None:
                raise IndexRefused("nothing to roll back to: no index has been reloaded since the service started")
            if expect is not None and (back.version, back.built_at) != expect:
                raise IndexRefused(f"the previous index here is version {back.version}, not {expect[0]}")
            self.previous, self.current = old, back
            return self._swapped("rollback", back, old, started, None)
        finally:
            self._lock.release()

    def _swapped(self, action: str, served: Served, old: Served | None, started: float,
                 gate: dict[str, Any] | None) -> Swap:
        swap = Swap(action=action, version=served.version, built_at=served.built_at,
                    previous_version=old.version if old else None, entries=len(served.engine.index.entries),
                    seconds=round(time.perf_counter() - started, 3), gate=gate)
        logger.info("%s: serving index %s (%d entries, built %s) in place of %s, %.2f s", action, swap.version,
                    swap.entries, swap.built_at, swap.previous_version, swap.seconds)
        index = served.engine.index
        set_index(index.version, len(index.entries), len(index.vectors.phrase_entry))
        return swap


class Follower:
    """Does what other processes on the same database did: a thread that polls `storage.events`
    every `poll_seconds` and repeats each reload or rollback made elsewhere.

    A reload is repeated from this process's own index path and must find the same index there
    (version and build time); a rollback must find the same previous index. One that does not
    is logged and skipped: this process keeps serving what it serves.
    """

    def __init__(self, serving: Serving, sessions: sessionmaker[Session], poll_seconds: float) -> None:
        self._serving = serving
        self._sessions = sessions
        self._poll_seconds = poll_seconds
        # Which process this is; the token tells apart two apps in one process (tests).
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._seen = events.last_id(sessions)  # what happened before this process started is on disk
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aurora-index-follower", daemon=True)
        self._thread.start()

    def note(self, swap: Swap) -> None:
        """Write down a swap this process made, for the others."""
        self._seen = max(self._seen, events.record(self._sessions, swap.action, swap.version, swap.built_at,
                                                   self.origin))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll()
            except Exception:  # a database hiccup must not stop following
                logger.exception("index events: poll failed")

    def poll(self) -> None:
        """Repeat the events recorded since the last poll."""
        for event in events.after(self._sessions, self._seen):
            self._seen = event.id
            if event.origin == self.origin:
                continue
            current = self._serving.current
            expect = (event.version, event.built_at)
            if event.action == "reload" and current is not None and (current.version, current.built_at) == expect:
                continue
            try:
                if event.action == "rollback":
                    self._serving.rollback(expect)
                else:
                    self._serving.reload(expect)
            except IndexRefused as e:
                logger.warning("index events: %s by %s not repeated here: %s", event.action, event.origin, e)
