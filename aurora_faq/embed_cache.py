"""Content-hash embedding cache: a rebuild re-embeds only the texts that changed.

One directory per encoder name under the cache root, holding shards: `NNNNNN.keys.npy`
(16-byte keys, uint8 rows) and `NNNNNN.vecs.npy` (their vectors). A save appends one shard
with the vectors embedded since the load, so the cost of a rebuild after one edit does not
grow with everything ever embedded; vectors are memory-mapped, read only when asked for.
Past `MAX_SHARDS` a save merges every shard into one.
"""

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
MAX_SHARDS = 16


def _key(kind: str, text: str) -> bytes:
    return hashlib.sha256(f"{kind}\0{text}".encode()).digest()[:16]


class EmbeddingCache:
    """Vectors by (kind, text) for one encoder name, kept under `root` (None: in memory only)."""

    def __init__(self, root: Path | None, encoder_name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", encoder_name)
        self._path = root / f"{safe}.v3" if root else None
        self._shards: list[np.ndarray] = []  # memory-mapped vectors of each shard on disk
        self._where: dict[bytes, tuple[int, int]] = {}  # key -> (shard, row)
        self._new: dict[bytes, np.ndarray] = {}  # embedded since the load
        if self._path and self._path.is_dir():
            try:
                self._load(self._path)
            except (OSError, ValueError) as e:
                logger.warning("ignoring unreadable embedding cache %s: %s", self._path, e)
                self._shards, self._where = [], {}
        self.hits = 0
        self.misses = 0

    def _load(self, path: Path) -> None:
        for keys_file in sorted(path.glob("*.keys.npy")):
            keys = np.load(keys_file)
            vecs = np.load(keys_file.with_name(keys_file.name.replace(".keys.", ".vecs.")), mmap_mode="r")
            if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != 16 or len(keys) != len(vecs):
                raise ValueError(f"{keys_file.name}: keys of shape {keys.shape} and type {keys.dtype} "
                                 f"for {len(vecs)} vectors")
            shard = len(self._shards)
            self._shards.append(vecs)
            self._where.update((k.tobytes(), (shard, row)) for row, k in enumerate(keys))

    @property
    def path(self) -> Path | None:
        """The directory of this encoder's shards (None when the cache is in memory only)."""
        return self._path

    def embed(self, kind: str, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray],
              dim: int, progress: ProgressFn | None = None, batch: int = 128) -> np.ndarray:
        """Vectors for `texts`, encoding only the ones not cached under (kind, text)."""
        keys = [_key(kind, t) for t in texts]
        missing = list(dict.fromkeys(i for i, k in enumerate(keys) if k not in self._where and k not in self._new))
        pending = list({keys[i]: texts[i] for i in missing}.items())
        self.hits += len(texts) - len(missing)
        self.misses += len(pending)
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
            vecs = encode([t for _, t in chunk])
            for (k, _), v in zip(chunk, vecs, strict=True):
                self._new[k] = np.asarray(v, np.float32)
            if progress:
                progress(min(start + batch, len(pending)), len(pending))
        if not keys:
            return np.zeros((0, dim), np.float32)
        return np.stack([self._vector(k) for k in keys]).astype(np.float32)

    def _vector(self, key: bytes) -> np.ndarray:
        new = self._new.get(key)
        if new is not None:
            return new
        shard, row = self._where[key]
        return np.asarray(self._shards[shard][row])

    def save(self) -> None:
        """Write what was embedded since the load as a new shard (past `MAX_SHARDS`, everything
        as one shard replacing the others)."""
        if not self._path or not self._new:
            return
        self._path.mkdir(parents=True, exist_ok=True)
        numbers = [int(f.name.split(".")[0]) for f in self._path.glob("*.keys.npy")
                   if f.name.split(".")[0].isdigit()]
        number = max(numbers, default=-1) + 1
        merge = len(numbers) + 1 > MAX_SHARDS
        keys = [*self._where, *self._new] if merge else list(self._new)
        self._write(number, keys, np.stack([self._vector(k) for k in keys]))
        if merge:
            for f in self._path.glob("*.npy"):
                prefix = f.name.split(".")[0]
                if prefix.isdigit() and int(prefix) < number:
                    f.unlink(missing_ok=True)

    def _write(self, number: int, keys: list[bytes], vecs: np.ndarray) -> None:
        """One shard, written beside its place and renamed in: vectors first, keys last, so a
        reader never finds keys without their vectors."""
        assert self._path is not None
        stem = self._path / f"{number:06d}"
        # uint8 rows, not numpy bytes ('S16' would strip trailing NUL bytes from keys).
        for suffix, array in ((".vecs.npy", vecs.astype(np.float32)),
                              (".keys.npy", np.frombuffer(b"".join(keys), np.uint8).reshape(-1, 16))):
            tmp = stem.with_name(f".{stem.name}{suffix}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, array)
            os.replace(tmp, stem.with_name(stem.name + suffix))

