"""The built index: what `scripts/build_index.py` writes and the service loads once.

index/
  manifest.json     encoder, dimension, counts, FAQ sha256, build time, versions,
                    fitted retrieval weights and confidence calibration
  entries.jsonl     the validated FAQ (the service answers from this copy)
  phrases.json      for each phrasing row: entry number, language, text
  phrases.npy       phrasing vectors (unit rows; rows of one entry are contiguous)
  answers.npy       answer vectors, one row per (entry, language)
  answers.json      entry number of each answer row
  phrases.faiss     FAISS inner-product index over phrases.npy (flat, or IVF when large)
  lexical/          bm25s index over phrasings then answers
  classifier.npz    softmax entry classifier (only for FAQs with many alternates an entry)
  background.npy    vectors of built-in off-topic questions (a confidence signal, calibration.py)

Written beside the target and renamed into place, so a reader never sees half an index.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from faiss.contrib.clustering import two_level_clustering

from .classifier import EntryClassifier
from .errors import EncoderMismatchError, IndexCorruptError, IndexNotFoundError
from .faq import Entry, parse_faq
from .lexical import LexicalIndex
from .text import Tokenizer

FORMAT_VERSION = 3
# Above this many phrasings an inverted-file index replaces exact search, which reads every row
# for every query: 2.3 ms at 20,000 rows of e5+use vectors, 5 ms at 40,000, where the IVF index
# took 0.2 ms with recall@10 0.992 and 0.996 (bench/README.md).
IVF_THRESHOLD = 20_000
IVF_MIN_PROBES = 48
IVF_TRAIN_PER_LIST = 40  # k-means sample: faiss asks for at least 39 points a centroid
IVF_TRAIN_ITERATIONS = 10
TWO_LEVEL_LISTS = 1024


@dataclass
class FaqIndex:
    entries: list[Entry]
    phrase_vecs: np.ndarray
    phrase_entry: np.ndarray  # int32, entry number of each phrasing row
    phrase_lang: list[str]
    phrase_text: list[str]
    answer_vecs: np.ndarray
    answer_entry: np.ndarray
    lexical: LexicalIndex
    ann: Any  # faiss.Index over phrase_vecs
    manifest: dict[str, Any] = field(default_factory=dict)
    classifier: EntryClassifier | None = None
    background_vecs: np.ndarray | None = None  # off-topic questions (build.background_queries)

    def __post_init__(self) -> None:
        # Start offset of each entry's phrasing rows (contiguous by construction).
        n = len(self.entries)
        self.phrase_start = np.searchsorted(self.phrase_entry, np.arange(n + 1)).astype(np.int64)
        self.answer_start = np.searchsorted(self.answer_entry, np.arange(n + 1)).astype(np.int64)
        self.by_id = {e.id: i for i, e in enumerate(self.entries)}
        self.phrase_langs = frozenset(self.phrase_lang)

    @property
    def version(self) -> str:
        return str(self.manifest.get("faq_sha256", ""))[:12]


def make_ann(vecs: np.ndarray) -> Any:
    """Exact inner-product search for small FAQs, an inverted-file index above IVF_THRESHOLD rows.

    The IVF index has about 8·√n lists (a power of two) and searches 1/128 of them, at least
    IVF_MIN_PROBES: on 400,000 synthetic phrasing rows (4,096 lists, 48 searched) that keeps
    recall@10 of rows and of the engine's top entries above 0.99 against exact search, where
    HNSW (M 32, efSearch 256) reached 0.89 (bench/README.md). Vectors are unit rows, so inner
    product is cosine.
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
    then each split): a point meets a few dozen centroids instead of all of them. At 4,096
    lists over 400,000 rows it trained in 3.8 s instead of 32 s, with the same recall
    (bench/README.md). Fewer lists train fast enough the plain way, which clusters better
    when each list has few points to go on.
    """
    data = np.ascontiguousarray(vecs, dtype=np.float32)
    dim = data.shape[1]
    sample = np.random.default_rng(0).choice(len(data), min(len(data), nlist * IVF_TRAIN_PER_LIST), replace=False)
    train = data[np.sort(sample)]
    quantizer = faiss.IndexFlatIP(dim)
    # Lists hold half-precision vectors: a search is bound by reading the lists it scans, and
    # halving them took the scan from 0.42 to 0.26 ms at 100,000 entries with the same recall.
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


def write_index(index: FaqIndex, out: Path) -> None:
    """Write `index` to `out` atomically: build in a sibling directory, then rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with open(tmp / "entries.jsonl", "w", encoding="utf-8") as f:
            for e in index.entries:
                f.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
        phrases = {"entry": index.phrase_entry.tolist(), "lang": index.phrase_lang,
                   "text": index.phrase_text}
        (tmp / "phrases.json").write_text(json.dumps(phrases, ensure_ascii=False), encoding="utf-8")
        (tmp / "answers.json").write_text(json.dumps({"entry": index.answer_entry.tolist()}))
        np.save(tmp / "phrases.npy", index.phrase_vecs)
        np.save(tmp / "answers.npy", index.answer_vecs)
        faiss.write_index(index.ann, str(tmp / "phrases.faiss"))
        index.lexical.save(tmp / "lexical")
        if index.classifier is not None:
            index.classifier.save(tmp / "classifier.npz")
        if index.background_vecs is not None:
            np.save(tmp / "background.npy", index.background_vecs)
        (tmp / "manifest.json").write_text(json.dumps(index.manifest, indent=2, ensure_ascii=False))
        # Swap: move the old index aside, rename the new one in, then delete the old.
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "index")
        os.replace(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_command(out: Path | str, encoder: str | None = None) -> str:
    """The command that builds this index: quoted in every 'no usable index' message."""
    flag = f" --encoder {encoder}" if encoder else ""
    return f".venv/bin/python scripts/build_index.py --faq data/faq.jsonl --out {out}{flag}"


def read_manifest(path: Path, encoder: str | None = None) -> dict[str, Any]:
    path = Path(path)
    if not (path / "manifest.json").exists():
        raise IndexNotFoundError(f"no index at {path}; build it with: {build_command(path, encoder)}")
    try:
        manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"index at {path} has an unreadable manifest ({e}); rebuild it with: "
                                f"{build_command(path, encoder)}") from e
    return manifest


def load_index(path: Path | str, encoder_name: str, tokenizer: Tokenizer) -> FaqIndex:
    """Load an index written by `write_index`, refusing one built with another encoder."""
    path = Path(path)
    manifest = read_manifest(path, encoder_name)
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorruptError(f"index at {path} has format {manifest.get('format')!r}, this "
                                f"version reads {FORMAT_VERSION}; rebuild it with: {build_command(path, encoder_name)}")
    if manifest.get("encoder") != encoder_name:
        raise EncoderMismatchError(
            f"index at {path} was built with encoder {manifest.get('encoder')!r} but the service is "
            f"configured with {encoder_name!r}; rebuild with --encoder {encoder_name} or set "
            f"AURORA_ENCODER={manifest.get('encoder')}"
        )
    try:
        lines = (path / "entries.jsonl").read_text(encoding="utf-8").split("\n")
        entries = parse_faq(lines, str(path / "entries.jsonl"))
        phrases = json.loads((path / "phrases.json").read_text(encoding="utf-8"))
        answers = json.loads((path / "answers.json").read_text())
        phrase_vecs = np.load(path / "phrases.npy")
        answer_vecs = np.load(path / "answers.npy")
        ann = faiss.read_index(str(path / "phrases.faiss"))
        lexical = LexicalIndex.load(path / "lexical", tokenizer)
        classifier = EntryClassifier.load(path / "classifier.npz")
        background_vecs = np.load(path / "background.npy") if (path / "background.npy").exists() else None
    except Exception as e:  # any unreadable piece means the same thing to the caller
        raise IndexCorruptError(f"index at {path} is corrupt ({type(e).__name__}: {e}); rebuild it "
                                f"with: {build_command(path, encoder_name)}") from e
    dim = manifest.get("dim")
    consistent = (
        phrase_vecs.shape == (len(phrases["entry"]), dim) and ann.ntotal == len(phrase_vecs)
        and answer_vecs.shape == (len(answers["entry"]), dim) and len(entries) == manifest.get("entries")
    )
    if not consistent:
        raise IndexCorruptError(f"index at {path} is inconsistent (counts or dimensions disagree with "
                                f"its manifest); rebuild it with: {build_command(path, encoder_name)}")
    return FaqIndex(entries=entries, phrase_vecs=phrase_vecs,
                    phrase_entry=np.asarray(phrases["entry"], np.int32), phrase_lang=phrases["lang"],
                    phrase_text=phrases["text"], answer_vecs=answer_vecs,
                    answer_entry=np.asarray(answers["entry"], np.int32), lexical=lexical, ann=ann,
                    manifest=manifest, classifier=classifier,
                    background_vecs=background_vecs)
