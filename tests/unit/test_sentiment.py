"""VADER sentiment: thresholds, labels, and one analyzer per process built on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafkapipeline import sentiment
from kafkapipeline.sentiment import NEGATIVE, NEUTRAL, POSITIVE, label_for, score_text


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (1.0, POSITIVE),
        (0.05, POSITIVE),
        (0.0499, NEUTRAL),
        (0.0, NEUTRAL),
        (-0.0499, NEUTRAL),
        (-0.05, NEGATIVE),
        (-1.0, NEGATIVE),
    ],
)
def test_label_thresholds_are_the_vader_authors(score, label):
    assert label_for(score) == label


def test_positive_negative_and_neutral_texts():
    happy = score_text("I love this city, what a beautiful sunny day :)")
    sad = score_text("Awful weather, I hate the rain and the traffic is horrible")
    flat = score_text("The bus leaves at 9")
    assert happy.label == POSITIVE and happy.score >= 0.05
    assert sad.label == NEGATIVE and sad.score <= -0.05
    assert flat.label == NEUTRAL and -0.05 < flat.score < 0.05


def test_score_is_the_compound_score():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    text = "Not bad at all, but the coffee was terrible!"
    assert score_text(text).score == SentimentIntensityAnalyzer().polarity_scores(text)["compound"]


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_blank_text_is_neutral_zero(text):
    assert score_text(text) == (0.0, NEUTRAL)


def test_negation_is_understood():
    assert score_text("this is not good").label == NEGATIVE


def test_analyzer_is_built_once_and_reused():
    assert sentiment.analyzer() is sentiment.analyzer()


def test_importing_does_not_build_the_analyzer():
    code = (
        "import kafkapipeline.sentiment as s, sys; "
        "assert s._analyzer is None; "
        "assert 'vaderSentiment.vaderSentiment' not in sys.modules; "
        "s.score_text('good'); assert s._analyzer is not None"
    )
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env)
