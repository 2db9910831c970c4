"""The sentiment models the pipeline can score tweets with, by name.

Each scorer's name and version go into the row (``sentiment_model``, ``sentiment_model_version``), so
rows scored by different models can be told apart. Models load on first use, never at import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from kafkapipeline.sentiment.vader import Sentiment

LEARNED = "learned"
VADER = "vader"
#: Names a DAG Param may choose from; "learned" is the model of :mod:`kafkapipeline.sentiment.model`.
SCORER_NAMES = (LEARNED, VADER)


@dataclass(frozen=True)
class Scorer:
    """A model that scores a batch of texts at once."""

    name: str
    version: str
    score_batch: Callable[[Sequence[str]], list[Sentiment]]


def _vader() -> Scorer:
    from vaderSentiment import vaderSentiment

    from kafkapipeline.sentiment.vader import score_text

    version = getattr(vaderSentiment, "__version__", None) or "3.3.2"
    return Scorer(VADER, str(version), lambda texts: [score_text(text) for text in texts])


def _learned() -> Scorer:
    from kafkapipeline.sentiment import model as sentiment_model

    return Scorer(sentiment_model.MODEL_NAME, sentiment_model.MODEL_VERSION, sentiment_model.score_batch)


_FACTORIES: dict[str, Callable[[], Scorer]] = {LEARNED: _learned, VADER: _vader}


@cache
def scorer(name: str = LEARNED) -> Scorer:
    """The scorer called ``name`` (one of :data:`SCORER_NAMES`), built once per process."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"sentiment model must be one of {', '.join(SCORER_NAMES)}, got {name!r}") from None
    return factory()


def default_scorer() -> Scorer:
    """The model new tweets are scored with."""
    return scorer(LEARNED)
