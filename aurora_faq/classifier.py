"""An entry classifier over phrasing embeddings, for FAQs whose entries have many alternates.

Intent-style FAQs (a hundred phrasings an entry) are classification problems: a softmax
regression on the embeddings separates neighbouring entries better than any similarity of
single phrasings (HWU64 R@1 .87 nearest neighbour vs .92). It is fitted once at build time on
all phrasings except the held-out pseudo-queries, which then tune and calibrate it honestly.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MIN_PHRASINGS_PER_ENTRY = 4.0  # below this on average there is nothing to learn a class from
MAX_ENTRIES = 1000  # softmax fitting cost grows with entries × phrasings
# On standardized features. Fitting raw unit vectors instead let lbfgs stop after 0-1
# iterations on CLINC150 and BANKING77 (gradients under its tolerance): a constant classifier.
REGULARIZATION_C = 0.1


@dataclass(frozen=True)
class EntryClassifier:
    weights: np.ndarray  # (entries, dim) float32
    bias: np.ndarray  # (entries,)

    def proba(self, qvec: np.ndarray) -> np.ndarray:
        """P(entry | query) for every entry."""
        z = self.weights @ qvec + self.bias
        z = np.exp(z - z.max())
        p: np.ndarray = z / z.sum()
        return p

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=self.bias)

    @classmethod
    def load(cls, path: Path) -> EntryClassifier | None:
        if not path.exists():
            return None
        with np.load(path) as z:
            return cls(z["weights"], z["bias"])


def worth_fitting(n_entries: int, n_phrasings: int) -> bool:
    return 2 <= n_entries <= MAX_ENTRIES and n_phrasings / n_entries >= MIN_PHRASINGS_PER_ENTRY


def fit_entry_classifier(vecs: np.ndarray, labels: np.ndarray, n_entries: int) -> EntryClassifier:
    """Multinomial logistic regression (scikit-learn) from phrasing vectors to entry numbers.

    Features are standardized for the fit; the scaling is folded into the stored weights, so
    applying the classifier stays one matrix-vector product.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression  # build time only

    mean, scale = _standardization(vecs)
    model = LogisticRegression(C=REGULARIZATION_C, max_iter=200, tol=1e-4)
    with warnings.catch_warnings():
        # 200 iterations are enough for ranking; full convergence costs minutes on CLINC150.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit((vecs - mean) / scale, labels)
    weights = np.zeros((n_entries, vecs.shape[1]), np.float32)
    # Entries with no training phrasing keep a very low bias: never predicted.
    bias = np.full(n_entries, -30.0, np.float32)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sigmoid(z) is the softmax of (-z/2, z/2)
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    coef = coef / scale  # W((x - m)/s) + b = (W/s)x + (b - (W/s)m)
    weights[model.classes_] = coef
    bias[model.classes_] = intercept - coef @ mean
    return EntryClassifier(weights, bias)


# Phrasings the off-topic detector learns from at most: it tells the FAQ's topics from the
# background's, which a sample of a large FAQ shows as well as all of it.
DETECTOR_MAX_PHRASINGS = 5000
DETECTOR_C = 0.1  # the entry classifier's, on the same standardized vectors


@dataclass(frozen=True)
class OffTopicDetector:
    """P(a question is none of this FAQ's business): a logistic regression on the embeddings,
    the FAQ's phrasings against the built-in background questions.

    Similarity alone finds "Spotifyの支払い方法を変えたい" as close to "支払い方法を変更したい"
    as a paraphrase is; a linear model over the whole vector learns what the background's
    other companies' services, small talk and shop topics the FAQ lacks have in common.
    """

    weights: np.ndarray  # (dim,) float32
    bias: float

    def proba(self, qvec: np.ndarray) -> float:
        return float(self.proba_many(qvec[None, :])[0])

    def proba_many(self, qvecs: np.ndarray) -> np.ndarray:
        z = np.clip(qvecs @ self.weights + self.bias, -40.0, 40.0)
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=np.array([self.bias]))

    @classmethod
    def load(cls, path: Path) -> OffTopicDetector | None:
        if not path.exists():
            return None
        with np.load(path) as z:
            return cls(z["weights"], float(z["bias"][0]))


def fit_off_topic(phrases: np.ndarray, background: np.ndarray, seed: int = 0) -> OffTopicDetector:
    """Fit the detector (scikit-learn), both sides weighted equally whatever their sizes."""
    from sklearn.linear_model import LogisticRegression  # build time only

    if len(phrases) > DETECTOR_MAX_PHRASINGS:
        phrases = phrases[np.sort(np.random.default_rng(seed).choice(len(phrases), DETECTOR_MAX_PHRASINGS,
                                                                      replace=False))]
    x = np.vstack([phrases, background])
    y = np.concatenate([np.zeros(len(phrases), int), np.ones(len(background), int)])
    mean, scale = _standardization(x)
    model = LogisticRegression(C=DETECTOR_C, max_iter=500, class_weight="balanced")
    model.fit((x - mean) / scale, y)
    coef = model.coef_[0] / scale
    return OffTopicDetector(coef.astype(np.float32), float(model.intercept_[0] - coef @ mean))


def _standardization(vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and scale the models are fitted on (a constant dimension keeps 1);
    both fold them into the stored weights, so applying one stays a product."""
    std = vecs.std(axis=0)
    return vecs.mean(axis=0), np.where(std > 1e-6, std, 1.0)
