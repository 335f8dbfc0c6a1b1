"""The built index: what `aurora-build-index` writes and the service loads once.

index/
  manifest.json     the contract: format, encoder, dimension, counts, FAQ sha256, build time,
                    versions, fitted retrieval weights, decision thresholds and calibrations
                    (each with the feature list it was fitted on)
  entries.jsonl     the validated FAQ (the service answers from this copy)
  phrases.*, answers.*, background.npy   the vectors and their FAISS index (vectors.py)
  lexical/          bm25s index over phrasings then answers (lexical.py)
  classifier.npz    softmax entry classifier, for FAQs with many alternates an entry (classifier.py)
  off_topic.npz     the off-topic detector: the FAQ's phrasings against the background (classifier.py)

Each part saves and loads itself; this module checks the manifest and puts them together.
Written beside the target and renamed into place, so a reader never sees half an index.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import Calibrator
from .classifier import EntryClassifier, OffTopicDetector
from .errors import EncoderMismatchError, IndexCorruptError, IndexFormatError, IndexNotFoundError
from .faq import Entry, parse_faq
from .lexical import LexicalIndex
from .text import Tokenizer
from .vectors import Vectors

FORMAT_VERSION = 4
# What every manifest holds; an index without one of them was not written by this version.
REQUIRED_KEYS = ("format", "encoder", "dim", "entries", "faq_sha256", "retrieval", "thresholds",
                 "calibration", "calibration_across_languages")


@dataclass
class FaqIndex:
    entries: list[Entry]
    vectors: Vectors
    lexical: LexicalIndex
    manifest: dict[str, Any] = field(default_factory=dict)
    classifier: EntryClassifier | None = None
    detector: OffTopicDetector | None = None
    calibrator: Calibrator = field(default_factory=Calibrator.fallback)
    # For questions in a language the FAQ is not written in (`ranking.Ranking.across_languages`).
    calibrator_across: Calibrator = field(default_factory=Calibrator.fallback)

    def __post_init__(self) -> None:
        # Start offset of each entry's phrasing and answer rows (contiguous by construction).
        n = len(self.entries)
        self.phrase_start = np.searchsorted(self.vectors.phrase_entry, np.arange(n + 1)).astype(np.int64)
        self.answer_start = np.searchsorted(self.vectors.answer_entry, np.arange(n + 1)).astype(np.int64)
        self.by_id = {e.id: i for i, e in enumerate(self.entries)}
        self.phrase_langs = frozenset(self.vectors.phrase_lang)

    def in_faq_language(self, vecs: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        """Vectors of texts in `langs` as the FAQ's language would place them, for an FAQ written
        in one language: each other-language row moved by the difference of the two languages'
        centroids, then made unit again.

        Multilingual encoders place each language around its own mean; taking that offset out
        (Libovický et al. 2020, "On the language neutrality of pre-trained multilingual
        representations") brings a question in the other language closer to its entry
        (docs/decisions/008-off-topic-detector-and-cross-lingual-centring.md).
        """
        if len(self.phrase_langs) != 1 or not self.vectors.centroids:
            return vecs
        (faq_lang,) = self.phrase_langs
        centroids = self.vectors.centroids
        if faq_lang not in centroids:
            return vecs
        moved = np.array([lang != faq_lang and lang in centroids for lang in langs])
        if not moved.any():
            return vecs
        out = np.array(vecs, dtype=np.float32, copy=True)
        shift = np.stack([centroids[faq_lang] - centroids[lang] for lang, m in zip(langs, moved, strict=True) if m])
        out[moved] += shift
        out[moved] /= np.maximum(np.linalg.norm(out[moved], axis=1, keepdims=True), 1e-12)
        return out

    @property
    def version(self) -> str:
        return str(self.manifest.get("faq_sha256", ""))[:12]


def write_index(index: FaqIndex, out: Path) -> None:
    """Write `index` to `out` atomically: build in a sibling directory, then rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with open(tmp / "entries.jsonl", "w", encoding="utf-8") as f:
            for e in index.entries:
                f.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
        index.vectors.save(tmp)
        index.lexical.save(tmp / "lexical")
        if index.classifier is not None:
            index.classifier.save(tmp / "classifier.npz")
        if index.detector is not None:
            index.detector.save(tmp / "off_topic.npz")
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


def read_manifest(path: Path | str) -> dict[str, Any]:
    """The manifest at `path`, checked against what this version writes.

    Raises:
        IndexNotFoundError, IndexCorruptError, IndexFormatError: the index must be (re)built.
    """
    path = Path(path)
    if not (path / "manifest.json").exists():
        raise IndexNotFoundError(path, f"no index at {path}")
    try:
        manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise IndexCorruptError(path, f"index at {path} has an unreadable manifest ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise IndexFormatError(path, f"index at {path} has format {found!r}, this version reads {FORMAT_VERSION}")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise IndexFormatError(path, f"index at {path} has a manifest without {', '.join(missing)}")
    return manifest


def load_index(path: Path | str, encoder_name: str, tokenizer: Tokenizer) -> FaqIndex:
    """Load an index written by `write_index`.

    Raises:
        IndexUnavailableError: no index, a corrupt one, one written by another version (format,
            calibration features) or one built with another encoder than `encoder_name`.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest["encoder"] != encoder_name:
        raise EncoderMismatchError(path, str(manifest["encoder"]), encoder_name)
    calibrator = Calibrator.from_manifest(manifest["calibration"], path)
    across = manifest["calibration_across_languages"]
    calibrator_across = calibrator if across is None else Calibrator.from_manifest(across, path)
    try:
        lines = (path / "entries.jsonl").read_text(encoding="utf-8").split("\n")
        entries = parse_faq(lines, str(path / "entries.jsonl"))
        vectors = Vectors.load(path)
        lexical = LexicalIndex.load(path / "lexical", tokenizer)
        classifier = EntryClassifier.load(path / "classifier.npz")
        detector = OffTopicDetector.load(path / "off_topic.npz")
    except Exception as e:  # any unreadable piece means the same thing to the caller
        raise IndexCorruptError(path, f"index at {path} is corrupt ({type(e).__name__}: {e})") from e
    if not vectors.consistent(manifest["dim"]) or len(entries) != manifest["entries"]:
        raise IndexCorruptError(path, f"index at {path} is inconsistent (counts or dimensions disagree with "
                                      "its manifest)")
    return FaqIndex(entries=entries, vectors=vectors, lexical=lexical, manifest=manifest, classifier=classifier,
                    detector=detector, calibrator=calibrator, calibrator_across=calibrator_across)
