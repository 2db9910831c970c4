"""The trained sentiment model on hand-written tweets (none from its training data), and its contract.

The tweets below were written for these tests. They pin what the model must get right (clear
complaints and praise, negation, emoji, plain announcements); a retrained model that gets them
wrong is a regression even when its benchmark figures improve.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kafkapipeline.sentiment import model as sentiment_model
from kafkapipeline.sentiment.model import MAX_CHARS, evaluation, features, score_batch, score_text
from kafkapipeline.sentiment.vader import LABELS, NEGATIVE, NEUTRAL, POSITIVE, Sentiment
from tests.conftest import run_in_fresh_interpreter

REPO_ROOT = Path(__file__).resolve().parents[3]

POSITIVE_TWEETS = [
    "I love this city, what a beautiful sunny day :)",
    "Best concert ever!!! 🎉",
    "Thanks so much for the help, you made my day",
    "can't wait for the weekend!!",
    "no complaints, great food and friendly staff",
    "So proud of my little sister, she graduated today 🎓❤️",
    "What an amazing sunset over the bay tonight 😍",
    "Finally got the job!!! so happy right now",
    "Happy birthday to the best mom in the world ❤️",
    "This new album is incredible, on repeat all day",
]
NEGATIVE_TWEETS = [
    "Ok so another grey, gloomy day. Miss the sun so much. Why do I even live here 😤",
    "Awful weather, I hate the rain and the traffic is horrible",
    "Train delayed 40 minutes, again. Unbelievable.",
    "😭😭 my flight got cancelled again",
    "This is not good",
    "Worst customer service I have ever had. Never ordering from them again",
    "my phone broke and I lost all my photos, what a terrible week",
    "So tired of these people lying to us every single day",
    "Stuck in the rain without an umbrella, soaked and miserable",
    "I'm so sick of this cold, can it be summer already 😩",
]
NEUTRAL_TWEETS = [
    "Road closure on Main St between 5th and 7th tonight",
    "The city council meets on Tuesday at 7pm to discuss the budget",
    "Forecast: 12C and cloudy tomorrow",
    "The library is closed on Monday; the branch on 4th Ave stays open",
    "Bus route 14 is on a detour until Friday",
    "Press conference at 10am at city hall",
    "Reminder: the farmers market moves to Saturday this week",
    "Earthquake of magnitude 3.1 recorded 40 km north of the city",
]


@pytest.mark.parametrize("text", POSITIVE_TWEETS)
def test_clear_praise_is_positive(text):
    result = score_text(text)
    # Above 0.1, not 0.2: a text whose only sentiment word is missing from VADER's lexicon
    # ("incredible") has the n-gram expert's evidence alone, which the lexicon expert tempers.
    assert result.label == POSITIVE and result.score > 0.1


@pytest.mark.parametrize("text", NEGATIVE_TWEETS)
def test_complaints_are_negative(text):
    result = score_text(text)
    assert result.label == NEGATIVE and result.score < 0


@pytest.mark.parametrize("text", NEUTRAL_TWEETS)
def test_news_and_announcements_are_neutral(text):
    assert score_text(text).label == NEUTRAL


@pytest.mark.parametrize(
    ("negated", "plain"),
    [
        ("not bad at all", "bad at all"),
        ("I don't love this", "I love this"),
        ("Not happy with the service today", "happy with the service today"),
        ("this is not good", "this is good"),
        ("the food was not terrible", "the food was terrible"),
    ],
)
def test_negation_moves_the_score_against_the_word(negated, plain):
    plain_score, negated_score = score_text(plain).score, score_text(negated).score
    if plain_score > 0:
        assert negated_score < plain_score - 0.2
    else:
        assert negated_score > plain_score + 0.2


def test_negated_praise_is_not_positive_and_negated_complaint_not_negative():
    assert score_text("I don't love this").label != POSITIVE
    assert score_text("Not happy with the service today").label != POSITIVE
    assert score_text("not bad at all").label != NEGATIVE


@pytest.mark.parametrize(
    ("emoji", "label"),
    [
        ("😍😍😍", POSITIVE),
        ("❤️❤️", POSITIVE),
        ("🎉🎉", POSITIVE),
        ("ugh 😡😡", NEGATIVE),
        ("so this happened 😡", NEGATIVE),
    ],
)
def test_emoji_carry_sentiment(emoji, label):
    assert score_text(emoji).label == label


@pytest.mark.parametrize(
    ("emoji", "shift"), [("😍", 0.3), ("🥰", 0.2), ("😞", -0.3), ("😩", -0.2), ("😢", -0.2)]
)
def test_emoji_turn_a_flat_sentence(emoji, shift):
    flat = score_text("Monday morning at the office").score
    moved = score_text(f"Monday morning at the office {emoji}").score
    assert moved > flat + shift if shift > 0 else moved < flat + shift


ALL_TWEETS = POSITIVE_TWEETS + NEGATIVE_TWEETS + NEUTRAL_TWEETS


def test_scores_in_range_and_labels_in_the_three():
    for result in score_batch([*ALL_TWEETS, "!!!", "🙂", "x" * 5000, "@user", "12345"]):
        assert isinstance(result, Sentiment)
        assert -1.0 <= result.score <= 1.0
        assert result.label in LABELS


def test_label_agrees_with_the_sign_of_the_score():
    for result in score_batch(ALL_TWEETS):
        if result.label == POSITIVE:
            assert result.score > 0
        elif result.label == NEGATIVE:
            assert result.score < 0


def test_batch_equals_one_by_one_whatever_the_chunking(monkeypatch):
    one_by_one = [score_text(text) for text in ALL_TWEETS]
    assert score_batch(ALL_TWEETS) == one_by_one
    monkeypatch.setattr(sentiment_model, "CHUNK_TEXTS", 3)
    assert score_batch(ALL_TWEETS) == one_by_one


@pytest.mark.parametrize("text", ["", " ", "\n\t ", "\u200b", "\ufe0f"])
def test_blank_text_is_neutral_zero(text):
    assert score_text(text) == (0.0, NEUTRAL)
    assert score_batch(["I love it", text, "I hate it"])[1] == (0.0, NEUTRAL)


def test_empty_batch():
    assert score_batch([]) == []


def test_non_text_is_a_clear_error():
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType, not str"):
        score_batch(["fine", None])


def test_a_huge_text_is_scored_on_its_capped_prefix():
    tweet = "Awful weather, I hate the rain and the traffic is horrible. "
    huge = tweet * (240_000 // len(tweet))
    assert len(huge.encode()) > 230_000
    assert score_text(huge) == score_text(huge[:MAX_CHARS])
    feats = features.featurise([huge])
    assert feats.char_buckets.size <= MAX_CHARS + 2


def test_model_name_and_version():
    assert sentiment_model.MODEL_NAME
    assert len(sentiment_model.MODEL_VERSION) == 12
    int(sentiment_model.MODEL_VERSION, 16)


def test_version_is_the_digest_of_the_committed_weights():
    with np.load(sentiment_model.WEIGHTS_PATH) as stored:
        arrays = {name: stored[name] for name in sentiment_model.STORED_ARRAYS}
    assert sentiment_model.weights_digest(arrays) == sentiment_model.MODEL_VERSION
    assert sentiment_model.WEIGHTS_PATH.stat().st_size < 5_000_000


def test_weights_that_do_not_match_the_version_are_refused():
    with pytest.raises(ValueError, match="is not MODEL_VERSION"):
        sentiment_model.load_weights(expected_version="0123456789ab")


def test_weights_are_read_once_and_not_at_import():
    """A fresh interpreter imports the module: no weights file opened, numpy not even imported."""
    code = """
import sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
from kafkapipeline.sentiment import model as sentiment_model
assert not any(path.endswith("weights.npz") for path in opened), opened
assert sentiment_model._weights is None
assert "numpy" not in sys.modules
first = sentiment_model.weights()
sentiment_model.score_batch(["I love it"])
assert sentiment_model.weights() is first
print(sum(path.endswith("weights.npz") for path in opened))
"""
    assert run_in_fresh_interpreter(code).strip() == "1"


def test_holdout_split_is_fixed_stratified_and_disjoint():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, held_out = evaluation.holdout_split(labels)
    again_train, again_held_out = evaluation.holdout_split(labels)
    assert np.array_equal(held_out, again_held_out) and np.array_equal(train, again_train)
    assert not set(train) & set(held_out)
    assert sorted([*train, *held_out]) == list(range(100))
    assert np.bincount(labels[held_out]).tolist() == [10, 6, 4]


def test_figures():
    gold = np.array([0, 0, 1, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0])
    scores = np.array([-0.5, 0.1, 0.0, 0.9, -0.2])
    fig = evaluation.figures(gold, predicted, scores)
    assert fig.accuracy == pytest.approx(3 / 5)
    assert fig.confusion.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    # F1: negative 1/2, neutral 2/3, positive 2/3; 2-class: -0.5 right, 0.1 wrong, 0.9 right, -0.2 wrong.
    assert fig.macro_f1 == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert fig.binary_accuracy == pytest.approx(2 / 4)


def test_token_hashes_are_the_same_in_every_process():
    """The features hash with fixed constants, not Python's per-process hash()."""
    code = (
        "from kafkapipeline.sentiment.model import features; print(features.hash_tokens(['rain']).tolist())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(REPO_ROOT / "plugins"), "PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {f"{features.hash_tokens(['rain']).tolist()}\n"}


def dense(text: str, name: str) -> float:
    """One of the dense features (features.LEXICON_FEATURE_NAMES) of a text, with the model's lexicon."""
    model = sentiment_model.weights()
    row = features.featurise([text], model.lexicon, model.lexicon_present).lexicon[0]
    return float(row[features.LEXICON_FEATURE_NAMES.index(name)])


@pytest.mark.parametrize(("emoticon", "sign"), [(":)", 1), (":-(", 0), (":(", -1), (":D", 1), ("<3", 1)])
def test_two_symbol_emoticons_carry_their_lexicon_valence(emoticon, sign):
    """ ":)" is two tokens to the featuriser; the lexicon keys such pairs too (":-(" is three: left out)."""
    valence = dense(f"the bus {emoticon}", "valence")
    assert np.sign(valence) == sign
    assert dense("the bus", "valence") == 0.0


def test_an_emoticon_is_not_flipped_by_a_negator():
    assert dense("not :(", "valence") < 0
    assert dense("not bad", "valence") > 0  # a word is


def test_numbers_carry_no_valence():
    """VADER's lexicon has "86", "143", "187"...: with digits all 0, every number would take one."""
    for text in ("86", "143 people", "back in 2019", "1337", "room 187"):
        assert dense(text, "valence") == 0.0, text


def test_cue_counts():
    assert dense("wow!!", "exclamation marks") == pytest.approx(2 / 3)  # "!!!!!" shrinks to "!!"
    assert dense("why?", "question marks") == pytest.approx(1 / 2)
    assert dense("so good", "elongated letters") == 0.0
    assert dense("soooo good", "elongated letters") == pytest.approx(2 / 3)  # "oooo" -> "oo": 2 dropped
    assert dense("call 1000000", "elongated letters") == 0.0  # a number is not elongated
    assert dense("not never no", "negators") == pytest.approx(3 / 4)
    assert dense("great and fine", "positive hits") == pytest.approx(2 / 3)
    assert dense("great and awful", "negative hits") == pytest.approx(1 / 2)


def test_the_lexicon_expert_is_part_of_the_model():
    """Trained with it, the model leans on the dense features: a lexicon word it saw little of in training
    still moves the score, and the valence weights point the right way."""
    model = sentiment_model.weights()
    valence = features.LEXICON_FEATURE_NAMES.index("valence")
    negative, positive = model.lexicon_weights[valence]
    assert positive > 0 > negative
    assert score_text("the bus was splendid").score > score_text("the bus was late").score
