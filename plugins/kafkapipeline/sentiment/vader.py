"""Tweet sentiment with VADER, the lexicon-and-rule model built for short social media text.

The compound score is in [-1, 1], labelled with its authors' thresholds; the lexicon ships in the package
(no download). The analyzer is built once per process on first use, never at import (DAG parsing stays
cheap). VADER's time grows with the square of a text's words, so only a bounded prefix is scored.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE = "Positive"
NEGATIVE = "Negative"
NEUTRAL = "Neutral"
LABELS = (POSITIVE, NEGATIVE, NEUTRAL)

#: The VADER authors' thresholds on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05

#: Characters scored: a standard X post is 280, Mastodon's default limit 500; the sentiment
#: of a long post shows in its beginning.
MAX_SCORED_CHARS = 1_000
#: Words scored (emoji counted as the words of their description, as VADER expands them):
#: a 280-character post has at most 140 words.
MAX_SCORED_TOKENS = 150

_analyzer: SentimentIntensityAnalyzer | None = None
_analyzer_lock = threading.Lock()


class Sentiment(NamedTuple):
    """A compound score in [-1, 1] and the label it falls under."""

    score: float
    label: str


def analyzer() -> SentimentIntensityAnalyzer:
    """The process's VADER analyzer, built on first call."""
    global _analyzer  # noqa: PLW0603 - one analyzer per process is the point
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def label_for(score: float) -> str:
    """Positive at or above 0.05, Negative at or below -0.05, Neutral in between."""
    if score >= POSITIVE_THRESHOLD:
        return POSITIVE
    if score <= NEGATIVE_THRESHOLD:
        return NEGATIVE
    return NEUTRAL


def _fits(text: str, emojis: dict[str, str]) -> bool:
    """Whether ``text`` has at most :data:`MAX_SCORED_TOKENS` words, counted at C speed (an upper
    bound: words plus the extra words of each emoji), so a normal post skips the exact count."""
    words = len(text.split())
    if words > MAX_SCORED_TOKENS:
        return False
    if text.isascii():  # every emoji VADER knows is outside ASCII
        return True
    found = [char for char in set(text) if char in emojis]
    # an emoji is its description's words, plus at most one word it splits off ("a😀b")
    extra = sum((emojis[char].count(" ") + 2) * text.count(char) for char in found)
    return words + extra <= MAX_SCORED_TOKENS


def scored_prefix(text: str) -> str:
    """The beginning of ``text`` that is scored: at most :data:`MAX_SCORED_CHARS` characters
    and :data:`MAX_SCORED_TOKENS` words, cut where a word or emoji starts."""
    text = text[:MAX_SCORED_CHARS]
    emojis = analyzer().emojis
    return text if _fits(text, emojis) else _counted_prefix(text, emojis)


def _counted_prefix(text: str, emojis: dict[str, str]) -> str:
    """The prefix of ``text`` up to its :data:`MAX_SCORED_TOKENS`-th word, counted exactly."""
    tokens = 0
    in_word = False
    for position, char in enumerate(text):
        description = emojis.get(char)
        if description is not None:
            tokens += description.count(" ") + 1
            in_word = False
        elif char.isspace():
            in_word = False
            continue
        elif not in_word:
            tokens += 1
            in_word = True
        else:
            continue
        if tokens > MAX_SCORED_TOKENS:
            return text[:position]
    return text


def score_text(text: str) -> Sentiment:
    """VADER compound score and label of one text (its :func:`scored_prefix`); blank text is Neutral 0.0."""
    if not text or not text.strip():
        return Sentiment(0.0, NEUTRAL)
    compound = float(analyzer().polarity_scores(scored_prefix(text))["compound"])
    return Sentiment(compound, label_for(compound))
