"""The built index: what `aurora-build-index` writes and the service loads once.

index/
  manifest.json     the contract: format, encoder, dimension, counts, FAQ sha256, build time,
                    versions, fitted retrieval weights, decision thresholds and calibrations
                    (each with the feature list it was fitted on)
  entries.jsonl     the validated FAQ (the service answers from this copy)
  phrases.*, answers.*, background.npy   the vectors and their FAISS index (vectors.py)
  lexical/          bm25s index over phrasings then answers (lexical.py)
  classifier.npz    softmax entry classifier, for FAQs with many alternates an entry (classifier.py)

Each part saves and loads itself; this module checks the manifest and puts them together.
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

import numpy as np

from .calibration import Calibrator
from .classifier import EntryClassifier
from .errors import EncoderMismatchError, IndexCorruptError, IndexFormatError, IndexNotFoundError
from .faq import Entry, parse_faq
from .lexical import LexicalIndex
from .text import Tokenizer
from .vectors import Vectors

FORMAT_VERSION = 3
# What every manifest holds; an index without one of them was not written by this version.
REQUIRED_KEYS = ("format", "encoder", "dim", "entries", "faq_sha256", "retrieval", "thresholds",
                 "calibration", "calibration_no_classifier")


@dataclass
class FaqIndex:
    entries: list[Entry]
    vectors: Vectors
    lexical: LexicalIndex
    manifest: dict[str, Any] = field(default_factory=dict)
    classifier: EntryClassifier | None = None
    calibrator: Calibrator = field(default_factory=Calibrator.fallback)
    # For questions in a language the FAQ is not written in, ranked without the classifier.
    calibrator_no_clf: Calibrator = field(default_factory=Calibrator.fallback)

    def __post_init__(self) -> None:
        # Start offset of each entry's phrasing and answer rows (contiguous by construction).
        n = len(self.entries)
        self.phrase_start = np.searchsorted(self.vectors.phrase_entry, np.arange(n + 1)).astype(np.int64)
        self.answer_start = np.searchsorted(self.vectors.answer_entry, np.arange(n + 1)).astype(np.int64)
        self.by_id = {e.id: i for i, e in enumerate(self.entries)}
        self.phrase_langs = frozenset(self.vectors.phrase_lang)

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
    no_clf = manifest["calibration_no_classifier"]
    calibrator_no_clf = calibrator if no_clf is None else Calibrator.from_manifest(no_clf, path)
    try:
        lines = (path / "entries.jsonl").read_text(encoding="utf-8").split("\n")
        entries = parse_faq(lines, str(path / "entries.jsonl"))
        vectors = Vectors.load(path)
        lexical = LexicalIndex.load(path / "lexical", tokenizer)
        classifier = EntryClassifier.load(path / "classifier.npz")
    except Exception as e:  # any unreadable piece means the same thing to the caller
        raise IndexCorruptError(path, f"index at {path} is corrupt ({type(e).__name__}: {e})") from e
    if not vectors.consistent(manifest["dim"]) or len(entries) != manifest["entries"]:
        raise IndexCorruptError(path, f"index at {path} is inconsistent (counts or dimensions disagree with "
                                      "its manifest)")
    return FaqIndex(entries=entries, vectors=vectors, lexical=lexical, manifest=manifest, classifier=classifier,
                    calibrator=calibrator, calibrator_no_clf=calibrator_no_clf)
