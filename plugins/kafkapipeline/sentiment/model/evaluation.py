"""The labelled tweets, the fixed held-out split and the figures, shared by training and the benchmark.

Training (``scripts/train-sentiment``) and ``bench/sentiment_eval.py`` must agree on which tweets
are held out, so the split lives here, in numpy only: no scikit-learn at run time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[4]
#: Class ids of the data set (its mapping.txt) and the labels they stand for.
CLASSES = ("Negative", "Neutral", "Positive")
NEGATIVE_ID, NEUTRAL_ID, POSITIVE_ID = 0, 1, 2
SPLIT_SEED = 13
HOLDOUT_FRACTION = 0.2


def default_data_dir() -> Path:
    """The shared reference data next to the repository (never copied into it), or
    ``$KAFKAPIPELINE_REFERENCE_DATA``, as the other benchmarks find it."""
    root = os.environ.get("KAFKAPIPELINE_REFERENCE_DATA", REPO_ROOT.parent / "shared" / "reference-data")
    return Path(root) / "tweeteval-sentiment"


class Dataset(NamedTuple):
    """Texts and their class ids, in file order (test file, then val file)."""

    texts: list[str]
    labels: np.ndarray


def load_tweeteval(data_dir: Path | None = None) -> Dataset:
    """Both labelled files of the TweetEval sentiment data; a clear error when they are missing."""
    data_dir = data_dir or default_data_dir()
    texts: list[str] = []
    labels: list[int] = []
    for part in ("test", "val"):
        text_path, label_path = data_dir / f"{part}_text.txt", data_dir / f"{part}_labels.txt"
        if not text_path.is_file() or not label_path.is_file():
            raise FileNotFoundError(f"TweetEval sentiment data not found: {text_path} / {label_path}")
        part_texts = text_path.read_text(encoding="utf-8").split("\n")
        part_labels = [int(line) for line in label_path.read_text().split()]
        if part_texts and part_texts[-1] == "":
            part_texts.pop()
        if len(part_texts) != len(part_labels):
            raise ValueError(f"{text_path}: {len(part_texts)} texts but {len(part_labels)} labels")
        texts += [text.rstrip() for text in part_texts]
        labels += part_labels
    return Dataset(texts, np.asarray(labels, dtype=np.int64))


def holdout_split(
    labels: np.ndarray, fraction: float = HOLDOUT_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out): ``fraction`` of each class, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    held_out: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        cut = round(fraction * members.size)
        held_out.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held_out))


class Figures(NamedTuple):
    """What the README reports for a model on a set of labelled tweets."""

    accuracy: float
    macro_f1: float
    binary_accuracy: float
    confusion: np.ndarray  # rows: gold class id, columns: predicted class id


def figures(gold: np.ndarray, predicted: np.ndarray, scores: Sequence[float] | np.ndarray) -> Figures:
    """3-class accuracy and macro-F1; 2-class accuracy on the tweets whose gold label is not neutral.

    The 2-class decision is the sign of the score: above 0 is positive, otherwise negative.
    """
    gold, predicted, scores = np.asarray(gold), np.asarray(predicted), np.asarray(scores, dtype=float)
    n = len(CLASSES)
    confusion = np.bincount(gold * n + predicted, minlength=n * n).reshape(n, n)
    f1s = []
    for cls in range(n):
        tp = confusion[cls, cls]
        precision = tp / max(confusion[:, cls].sum(), 1)
        recall = tp / max(confusion[cls, :].sum(), 1)
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    polar = gold != NEUTRAL_ID
    binary = np.where(scores[polar] > 0, POSITIVE_ID, NEGATIVE_ID) == gold[polar]
    return Figures(
        accuracy=float(np.mean(gold == predicted)),
        macro_f1=float(np.mean(f1s)),
        binary_accuracy=float(np.mean(binary)),
        confusion=confusion,
    )
