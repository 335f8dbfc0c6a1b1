"""The dense side of an index: phrasing and answer vectors, whose rows they are, and the FAISS
index over the phrasings. Vectors are unit rows, so inner product is cosine everywhere.

Files (in the index directory):
  phrases.npy     phrasing vectors (rows of one entry are contiguous)
  phrases.json    for each phrasing row: entry number, language, text
  phrases.faiss   FAISS inner-product index over phrases.npy (flat, or IVF when large)
  answers.npy     answer vectors, one row per (entry, language)
  answers.json    entry number of each answer row
  background.npy  vectors of the built-in off-topic questions (a confidence signal)
  centroids.npz   per language, the mean vector of those questions (moves a question across languages)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from faiss.contrib.clustering import two_level_clustering

# Above this many phrasings an inverted-file index replaces exact search, which reads every row
# for every query (docs/decisions/002-ivf-over-hnsw.md).
IVF_THRESHOLD = 20_000
IVF_MIN_PROBES = 48
IVF_TRAIN_PER_LIST = 40  # k-means sample: faiss asks for at least 39 points a centroid
IVF_TRAIN_ITERATIONS = 10
TWO_LEVEL_LISTS = 1024


@dataclass
class Vectors:
    phrases: np.ndarray
    phrase_entry: np.ndarray  # int32, entry number of each phrasing row
    phrase_lang: list[str]
    phrase_text: list[str]
    answers: np.ndarray
    answer_entry: np.ndarray  # int32, entry number of each answer row
    ann: Any  # faiss.Index over `phrases`
    background: np.ndarray | None = None  # off-topic questions (build.background_queries)
    centroids: dict[str, np.ndarray] = field(default_factory=dict)  # language → mean background vector

    def save(self, path: Path) -> None:
        phrases = {"entry": self.phrase_entry.tolist(), "lang": self.phrase_lang, "text": self.phrase_text}
        (path / "phrases.json").write_text(json.dumps(phrases, ensure_ascii=False), encoding="utf-8")
        (path / "answers.json").write_text(json.dumps({"entry": self.answer_entry.tolist()}))
        np.save(path / "phrases.npy", self.phrases)
        np.save(path / "answers.npy", self.answers)
        faiss.write_index(self.ann, str(path / "phrases.faiss"))
        if self.background is not None:
            np.save(path / "background.npy", self.background)
        if self.centroids:
            np.savez(path / "centroids.npz", **self.centroids)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> Vectors:
        """Raises whatever reading a missing or damaged file raises (`index.load_index` words it)."""
        phrases = json.loads((path / "phrases.json").read_text(encoding="utf-8"))
        answers = json.loads((path / "answers.json").read_text())
        background, centroids = path / "background.npy", path / "centroids.npz"
        langs: dict[str, np.ndarray] = {}
        if centroids.exists():
            with np.load(centroids) as z:
                langs = {lang: z[lang] for lang in z.files}
        return cls(phrases=np.load(path / "phrases.npy"), phrase_entry=np.asarray(phrases["entry"], np.int32),
                   phrase_lang=phrases["lang"], phrase_text=phrases["text"], answers=np.load(path / "answers.npy"),
                   answer_entry=np.asarray(answers["entry"], np.int32),
                   ann=faiss.read_index(str(path / "phrases.faiss")),
                   background=np.load(background) if background.exists() else None, centroids=langs)

    def consistent(self, dim: object) -> bool:
        """Whether the arrays agree with each other and with the manifest's dimension."""
        return (self.phrases.shape == (len(self.phrase_entry), dim) == (len(self.phrase_text), dim)
                and self.ann.ntotal == len(self.phrases) and self.answers.shape == (len(self.answer_entry), dim))


def make_ann(vecs: np.ndarray) -> Any:
    """Exact inner-product search for small FAQs, an inverted-file index above IVF_THRESHOLD rows.

    The IVF index has about 8·√n lists (a power of two) and searches 1/128 of them, at least
    IVF_MIN_PROBES: recall@10 above 0.99 against exact search where HNSW fell short
    (docs/decisions/002-ivf-over-hnsw.md).
    """
    data = np.ascontiguousarray(vecs, dtype=np.float32)
    if len(vecs) > IVF_THRESHOLD:
        nlist = 1 << round(np.log2(8 * np.sqrt(len(vecs))))
        return make_ivf(data, nlist, max(IVF_MIN_PROBES, nlist // 128))
    ann = faiss.IndexFlatIP(data.shape[1])
    ann.add(data)
    return ann


def make_ivf(vecs: np.ndarray, nlist: int, nprobe: int) -> Any:
    """An inner-product IVF index over `vecs` with `nlist` lists, searching `nprobe` of them.

    From TWO_LEVEL_LISTS lists up, the centroids come from two-level k-means (√nlist clusters,
    then each split): a point meets a few dozen centroids instead of all of them, which trains
    several times faster with the same recall. Fewer lists train fast enough the plain way,
    which clusters better when each list has few points to go on.
    """
    data = np.ascontiguousarray(vecs, dtype=np.float32)
    dim = data.shape[1]
    sample = np.random.default_rng(0).choice(len(data), min(len(data), nlist * IVF_TRAIN_PER_LIST), replace=False)
    train = data[np.sort(sample)]
    quantizer = faiss.IndexFlatIP(dim)
    # Lists hold half-precision vectors: a search is bound by reading the lists it scans, and
    # `rank` scores its candidates from the exact vectors anyway.
    ann = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16,
                                        faiss.METRIC_INNER_PRODUCT)
    ann.cp.niter = IVF_TRAIN_ITERATIONS
    if nlist >= TWO_LEVEL_LISTS:
        # Spherical: unit centroids, so the nearest in L2 (k-means) is the nearest in cosine.
        centroids, _ = two_level_clustering(  # type: ignore[no-untyped-call]
            train, round(np.sqrt(nlist)), nlist, clustering_niter=IVF_TRAIN_ITERATIONS, spherical=True,
            min_points_per_centroid=1)
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
    ann.train(train)  # k-means unless the quantizer holds its centroids already
    ann.nprobe = nprobe
    ann.add(data)
    return ann
