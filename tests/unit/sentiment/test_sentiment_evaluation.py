"""The evaluation splits and the hand-labelled sets, and the model against VADER on every held-out split.

The loader is checked on small recorded-response files written here; the committed labels and the
figures need the shared reference data (../shared, never copied into the repository) and skip without it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kafkapipeline.csvio.seed import seed_tweet_id
from kafkapipeline.sentiment import model as sentiment_model
from kafkapipeline.sentiment import vader
from kafkapipeline.sentiment.model import evaluation

VADER_IDS = {vader.NEGATIVE: evaluation.NEGATIVE_ID, vader.POSITIVE: evaluation.POSITIVE_ID}


def write_recordings(folder: Path) -> dict[tuple[str, str], str]:
    """Minimal recorded responses in the shared files' formats; returns their texts by key."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_lines = [
        [
            "I love this city\\u2026 https://t.co/x",
            "2021-02-09 17:32:49.805726976",
            "MetroVancouver",
            "Negative",
        ],
        ["Train delayed again", "2021-02-09 17:33:00", "MetroVancouver", "Positive"],
    ]
    with (folder / evaluation.SEED_CSV).open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(csv_lines)
    status = {
        "id": "1170",
        "content": "<p>it&#39;s <b>cool</b></p>",
        "created_at": "2026-08-01T13:55:55.867Z",
    }
    mastodon = {"about": "recorded", "timelines_public": {"body": [status]}}
    (folder / evaluation.MASTODON_RESPONSES).write_text(json.dumps(mastodon), encoding="utf-8")
    x_api = {"data": [{"id": "1578516068309794817", "text": "2022-10-07 22:42:12 tweepy"}]}
    (folder / evaluation.X_RESPONSE).write_text(json.dumps(x_api), encoding="utf-8")
    return {
        (
            "seed-csv",
            seed_tweet_id(csv_lines[0][1], csv_lines[0][0], csv_lines[0][2]),
        ): "I love this city… https://t.co/x",
        ("seed-csv", seed_tweet_id(csv_lines[1][1], csv_lines[1][0], csv_lines[1][2])): "Train delayed again",
        ("mastodon", "1170"): "it's cool",
        ("x-api", "1578516068309794817"): "2022-10-07 22:42:12 tweepy",
    }


def write_labels(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = ["source\tid\ttext_sha256\tlabel", *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_hand_labelled_texts_are_read_as_the_pipeline_parses_them(tmp_path):
    texts = write_recordings(tmp_path / "ref")
    keys = list(texts)
    labels = write_labels(
        tmp_path / "labels.tsv",
        [
            (*keys[0], evaluation.text_hash(texts[keys[0]]), "Positive"),
            (*keys[1], "0" * 16, "excluded: not English"),  # excluded rows are not even checked
            (*keys[2], evaluation.text_hash("it's cool"), "Positive"),
            (*keys[3], evaluation.text_hash(texts[keys[3]]), "Neutral"),
        ],
    )
    data = evaluation.load_hand_labelled(tmp_path / "ref", labels)
    assert data.texts == ["I love this city… https://t.co/x", "it's cool", "2022-10-07 22:42:12 tweepy"]
    assert data.labels.tolist() == [evaluation.POSITIVE_ID, evaluation.POSITIVE_ID, evaluation.NEUTRAL_ID]


def test_a_changed_text_is_an_error_naming_its_id(tmp_path):
    texts = write_recordings(tmp_path / "ref")
    key = ("mastodon", "1170")
    labels = write_labels(
        tmp_path / "labels.tsv", [(*key, evaluation.text_hash("it's not cool"), "Positive")]
    )
    with pytest.raises(
        ValueError, match=r"labels\.tsv:2: the recorded text of mastodon id 1170 is not the one"
    ):
        evaluation.load_hand_labelled(tmp_path / "ref", labels)
    assert texts[key] == "it's cool"


def test_an_unknown_id_and_an_unknown_label_are_errors(tmp_path):
    texts = write_recordings(tmp_path / "ref")
    unknown = write_labels(tmp_path / "a.tsv", [("x-api", "42", "0" * 16, "Neutral")])
    with pytest.raises(ValueError, match=r"a\.tsv:2: no recorded text for x-api id 42"):
        evaluation.load_hand_labelled(tmp_path / "ref", unknown)
    key = ("x-api", "1578516068309794817")
    bad = write_labels(tmp_path / "b.tsv", [(*key, evaluation.text_hash(texts[key]), "Mixed")])
    with pytest.raises(ValueError, match=r"b\.tsv:2: label 'Mixed' is not one of"):
        evaluation.load_hand_labelled(tmp_path / "ref", bad)


def test_missing_recordings_are_a_clear_error(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"recorded responses not found: .*seed_tweets_vancouver_2021\.csv"
    ):
        evaluation.load_hand_labelled(tmp_path, evaluation.HAND_LABELS)


def committed_labels(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_committed_labels_hold_keys_and_hashes_only():
    for path in (evaluation.HAND_LABELS, evaluation.HAND_LABELS_TUNING):
        rows = committed_labels(path)
        assert rows and set(rows[0]) == {"source", "id", "text_sha256", "label"}
        for row in rows:
            assert len(row["text_sha256"]) == evaluation.TEXT_HASH_DIGITS
            int(row["text_sha256"], 16)
            assert row["label"] in evaluation.CLASSES or row["label"].startswith("excluded: ")
    test_keys = {(r["source"], r["id"]) for r in committed_labels(evaluation.HAND_LABELS)}
    tuning_keys = {(r["source"], r["id"]) for r in committed_labels(evaluation.HAND_LABELS_TUNING)}
    assert not test_keys & tuning_keys, "the tuning split must not share a text with the test split"


def test_the_committed_labels_match_the_shared_recordings(reference_data):
    test = evaluation.load_hand_labelled(reference_data)
    tuning = evaluation.load_hand_labelled(reference_data, evaluation.HAND_LABELS_TUNING)
    assert len(test.texts) == 391 and len(tuning.texts) == 195
    assert not set(test.texts) & set(tuning.texts)
    assert all(np.bincount(part.labels, minlength=3).min() >= 50 for part in (test, tuning))


@pytest.fixture(scope="module")
def splits(reference_data):
    return evaluation.all_splits(reference_data / "tweeteval-sentiment", reference_data)


def test_training_sees_neither_the_val_file_nor_the_held_out_tweets(splits, reference_data):
    test_file = evaluation.load_part("test", reference_data / "tweeteval-sentiment")
    val_file = splits.held_out[evaluation.VAL_FILE]
    in_domain = splits.held_out[evaluation.IN_DOMAIN]
    assert len(splits.train.texts) + len(in_domain.texts) == len(test_file.texts)
    assert len(val_file.texts) == 2000
    trained = set(splits.train.texts)
    held_only = (set(val_file.texts) | set(in_domain.texts)) - trained
    # Tweets repeated across the files (retweets) aside, nothing held out is trained on.
    assert len(held_only) > 0.97 * len(set(val_file.texts) | set(in_domain.texts))
    counts = np.bincount(in_domain.labels, minlength=3) / len(in_domain.labels)
    whole = np.bincount(test_file.labels, minlength=3) / len(test_file.labels)
    assert np.abs(counts - whole).max() < 0.01  # stratified


@pytest.mark.parametrize("split", [evaluation.IN_DOMAIN, evaluation.VAL_FILE, evaluation.HAND_LABELLED])
def test_the_model_beats_vader_on_every_held_out_split(splits, split):
    part = splits.held_out[split]
    scores, predicted = sentiment_model.score_arrays(part.texts)
    ours = evaluation.figures(part.labels, predicted, scores)
    by_vader = [vader.score_text(text) for text in part.texts]
    theirs = evaluation.figures(
        part.labels,
        np.array([VADER_IDS.get(s.label, evaluation.NEUTRAL_ID) for s in by_vader]),
        np.array([s.score for s in by_vader]),
    )
    assert ours.macro_f1 > theirs.macro_f1, (ours.macro_f1, theirs.macro_f1)
    assert ours.binary_accuracy > theirs.binary_accuracy, (ours.binary_accuracy, theirs.binary_accuracy)
    if split == evaluation.IN_DOMAIN:  # the in-domain lead is wide, not a tie
        assert ours.macro_f1 > theirs.macro_f1 + 0.1


@pytest.mark.parametrize("split", [evaluation.VAL_FILE, evaluation.HAND_LABELLED])
def test_negatives_are_found_off_domain(splits, split):
    """The old model's failure off-domain: about a quarter of the negatives labelled Neutral (43 of
    the hand-labelled set's 100). Now fewer than a third, and the negative recall is VADER's or better."""
    part = splits.held_out[split]
    _, predicted = sentiment_model.score_arrays(part.texts)
    negatives = part.labels == evaluation.NEGATIVE_ID
    assert np.mean(predicted[negatives] == evaluation.NEUTRAL_ID) < 1 / 3
    vader_negative = [
        vader.score_text(part.texts[i]).label == vader.NEGATIVE for i in np.flatnonzero(negatives)
    ]
    assert np.mean(predicted[negatives] == evaluation.NEGATIVE_ID) >= np.mean(vader_negative)
