"""Content-hash embedding cache: a rebuild re-embeds only the texts that changed."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


def _key(kind: str, text: str) -> bytes:
    return hashlib.sha256(f"{kind}\0{text}".encode()).digest()[:16]


class EmbeddingCache:
    """One `.npz` per encoder name under `root`: 16-byte keys and their vectors."""

    def __init__(self, root: Path | None, encoder_name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", encoder_name)
        self._path = root / f"{safe}.v2.npz" if root else None
        self._vecs: dict[bytes, np.ndarray] = {}
        if self._path and self._path.exists():
            try:
                with np.load(self._path) as z:
                    keys, vecs = z["keys"], z["vecs"]
                if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != 16:
                    raise ValueError(f"keys of shape {keys.shape} and type {keys.dtype}")
                self._vecs = dict(zip((k.tobytes() for k in keys), vecs, strict=True))
            except (OSError, ValueError, KeyError) as e:
                logger.warning("ignoring unreadable embedding cache %s: %s", self._path, e)
        self.hits = 0
        self.misses = 0

    @property
    def path(self) -> Path | None:
        return self._path

    def embed(self, kind: str, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray],
              dim: int, progress: ProgressFn | None = None, batch: int = 128) -> np.ndarray:
        """Vectors for `texts`, encoding only the ones not cached under (kind, text)."""
        keys = [_key(kind, t) for t in texts]
        missing = list(dict.fromkeys(i for i, k in enumerate(keys) if k not in self._vecs))
        todo = {keys[i]: texts[i] for i in missing}
        pending = list(todo.items())
        self.hits += len(texts) - len(missing)
        self.misses += len(pending)
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
            vecs = encode([t for _, t in chunk])
            for (k, _), v in zip(chunk, vecs, strict=True):
                self._vecs[k] = v
            if progress:
                progress(min(start + batch, len(pending)), len(pending))
        if not keys:
            return np.zeros((0, dim), np.float32)
        return np.stack([self._vecs[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not self._path or not self.misses:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp.npz")
        # uint8 rows, not numpy bytes ('S16' would strip trailing NUL bytes from keys).
        keys = np.frombuffer(b"".join(self._vecs), np.uint8).reshape(-1, 16)
        np.savez(tmp, keys=keys, vecs=np.stack(list(self._vecs.values())))
        os.replace(tmp, self._path)
