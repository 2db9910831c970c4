"""The labelled tweets, the fixed splits and the figures, shared by training, the benchmark and the tests.

Training (``scripts/train-sentiment``) and ``bench/sentiment_eval.py`` must agree on which tweets are
trained on and which are held out, so the splits live here, in numpy only (no scikit-learn at run time):

* ``in-domain``: a fixed stratified 20% of TweetEval's test file (SemEval-2017); training gets the rest;
* ``val file``: TweetEval's whole val file (earlier SemEval years), never trained on: another year;
* ``hand-labelled``: the project's own labels (``tests/unit/sentiment/data/hand_labelled.tsv``) of
  recorded Mastodon, X and seed CSV texts, read from ``../shared`` by id and checked by hash.
"""

from __future__ import annotations

import csv
import hashlib
import json
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
#: The project's hand labels (docs/sentiment.md, "The hand-labelled set"): keys and text hashes only.
HAND_LABELS = REPO_ROOT / "tests" / "unit" / "sentiment" / "data" / "hand_labelled.tsv"
#: More texts labelled the same way: the tuning split (the neutral margin, the ensemble's weight).
HAND_LABELS_TUNING = HAND_LABELS.with_name("hand_labelled_dev.tsv")
#: Hex digits of the sha256 of a text kept in the labels file.
TEXT_HASH_DIGITS = 16
SEED_CSV = "seed_tweets_vancouver_2021.csv"
MASTODON_RESPONSES = "mastodon_timeline_responses.json"
X_RESPONSE = "x_api_v2_search_recent_response.json"


def reference_data_dir() -> Path:
    """The shared reference data next to the repository (never copied into it), or
    ``$KAFKAPIPELINE_REFERENCE_DATA``, as the other benchmarks find it."""
    return Path(
        os.environ.get("KAFKAPIPELINE_REFERENCE_DATA") or REPO_ROOT.parent / "shared" / "reference-data"
    )


def default_data_dir() -> Path:
    """The TweetEval sentiment files in the shared reference data."""
    return reference_data_dir() / "tweeteval-sentiment"


class Dataset(NamedTuple):
    """Texts and their class ids, in file order."""

    texts: list[str]
    labels: np.ndarray

    def subset(self, indices: np.ndarray) -> Dataset:
        return Dataset([self.texts[i] for i in indices.tolist()], self.labels[indices])


def load_part(part: str, data_dir: Path | None = None) -> Dataset:
    """One labelled file pair of TweetEval sentiment (``test`` or ``val``); a clear error when missing."""
    data_dir = data_dir or default_data_dir()
    text_path, label_path = data_dir / f"{part}_text.txt", data_dir / f"{part}_labels.txt"
    if not text_path.is_file() or not label_path.is_file():
        raise FileNotFoundError(f"TweetEval sentiment data not found: {text_path} / {label_path}")
    texts = text_path.read_text(encoding="utf-8").split("\n")
    labels = [int(line) for line in label_path.read_text().split()]
    if texts and texts[-1] == "":
        texts.pop()
    if len(texts) != len(labels):
        raise ValueError(f"{text_path}: {len(texts)} texts but {len(labels)} labels")
    return Dataset([text.rstrip() for text in texts], np.asarray(labels, dtype=np.int64))


def load_tweeteval(data_dir: Path | None = None) -> Dataset:
    """Both labelled files, the test file then the val file."""
    test, val = load_part("test", data_dir), load_part("val", data_dir)
    return Dataset(test.texts + val.texts, np.concatenate([test.labels, val.labels]))


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


class Splits(NamedTuple):
    """What training may see, and the held-out sets, by name (``held_out`` in report order)."""

    train: Dataset
    held_out: dict[str, Dataset]


IN_DOMAIN = "in-domain (TweetEval test file, held-out 20%)"
VAL_FILE = "off-domain: TweetEval val file (other SemEval years)"
HAND_LABELLED = "off-domain: hand-labelled (Mastodon, X, seed CSV)"


def tweeteval_splits(data_dir: Path | None = None) -> Splits:
    """Training part and the two TweetEval held-out sets (the val file is never trained on)."""
    test = load_part("test", data_dir)
    train, held_out = holdout_split(test.labels)
    held = {IN_DOMAIN: test.subset(held_out), VAL_FILE: load_part("val", data_dir)}
    return Splits(test.subset(train), held)


def text_hash(text: str) -> str:
    """The hash the labels file keeps of a text (no text is stored in the repository)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:TEXT_HASH_DIGITS]


def recorded_texts(reference: Path) -> dict[tuple[str, str], str]:
    """Every text of the recorded responses by (source, tweet id), as the pipeline parses them."""
    from kafkapipeline.csvio.seed import SEED_SOURCE, parse_seed_tweet
    from kafkapipeline.sources.mastodon import parse_status
    from kafkapipeline.sources.x_api import parse_tweet

    texts: dict[tuple[str, str], str] = {}
    with (reference / SEED_CSV).open(encoding="utf-8", newline="") as handle:
        for fields in csv.reader(handle):
            record, _ = parse_seed_tweet(fields)
            texts.setdefault((SEED_SOURCE, record.tweet_id), record.text)
    recorded = json.loads((reference / MASTODON_RESPONSES).read_text(encoding="utf-8"))
    for name, response in recorded.items():
        if name == "about":
            continue
        for status in response["body"]:
            texts[("mastodon", status["id"])] = parse_status(status, "Vancouver", "mastodon").text
    x_response = json.loads((reference / X_RESPONSE).read_text(encoding="utf-8"))
    for item in x_response["data"]:
        texts[("x-api", item["id"])] = parse_tweet(item, "Vancouver").text
    return texts


def load_hand_labelled(reference: Path | None = None, labels_path: Path = HAND_LABELS) -> Dataset:
    """The hand-labelled texts (excluded rows left out), read from the recorded responses by id.

    A key missing from the recordings, or a text whose hash is not the one labelled, is an error naming
    it: the labels were given to that exact text.
    """
    reference = reference or reference_data_dir()
    for name in (SEED_CSV, MASTODON_RESPONSES, X_RESPONSE):
        if not (reference / name).is_file():
            raise FileNotFoundError(f"recorded responses not found: {reference / name}")
    texts = recorded_texts(reference)
    chosen: list[str] = []
    labels: list[int] = []
    with labels_path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle, delimiter="\t"), start=2):
            if row["label"].startswith("excluded"):
                continue
            key = (row["source"], row["id"])
            if key not in texts:
                raise ValueError(f"{labels_path}:{line}: no recorded text for {key[0]} id {key[1]}")
            text = texts[key]
            if text_hash(text) != row["text_sha256"]:
                raise ValueError(
                    f"{labels_path}:{line}: the recorded text of {key[0]} id {key[1]} is not the one "
                    f"labelled (sha256 {text_hash(text)}, labelled {row['text_sha256']})"
                )
            if row["label"] not in CLASSES:
                raise ValueError(f"{labels_path}:{line}: label {row['label']!r} is not one of {CLASSES}")
            chosen.append(text)
            labels.append(CLASSES.index(row["label"]))
    return Dataset(chosen, np.asarray(labels, dtype=np.int64))


def all_splits(data_dir: Path | None = None, reference: Path | None = None) -> Splits:
    """The TweetEval splits and the hand-labelled set."""
    splits = tweeteval_splits(data_dir)
    return Splits(splits.train, {**splits.held_out, HAND_LABELLED: load_hand_labelled(reference)})


class Figures(NamedTuple):
    """What the docs report for a model on a set of labelled tweets."""

    accuracy: float
    macro_f1: float
    binary_accuracy: float
    confusion: np.ndarray  # rows: gold class id, columns: predicted class id

    @property
    def recall(self) -> np.ndarray:
        """Per gold class, the share labelled right (Negative, Neutral, Positive)."""
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)


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
