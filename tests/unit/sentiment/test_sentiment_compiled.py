"""The compiled (numba) scoring kernel gives the numpy path's logits, and the switch that picks it.

Each comparison scores the same texts both ways, forced by ``KAFKAPIPELINE_SCORING_KERNEL``, and
asks for logits within 1e-9 (the kernel adds in the numpy path's order; only the last bits may
differ) and for the same blank rows, classes and labels.
"""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from kafkapipeline.sentiment import model as sentiment_model
from kafkapipeline.sentiment.model import MAX_CHARS, evaluation, features
from tests.conftest import run_in_fresh_interpreter
from tests.unit.sentiment.test_sentiment_model import ALL_TWEETS

REPO_ROOT = Path(__file__).resolve().parents[3]
TOLERANCE = 1e-9

pytest.importorskip("numba", reason="numba is pinned in requirements.txt; this checks its kernel")
from kafkapipeline.sentiment.model import compiled  # noqa: E402 - after the skip


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch):
    """Each test starts as a new process would: no kernel chosen, nothing counted, no failure."""
    monkeypatch.setattr(sentiment_model, "_compiled_logits", None)
    monkeypatch.setattr(sentiment_model, "_kernel_failed", False)
    monkeypatch.setattr(sentiment_model, "_numpy_texts", 0)


def both_ways(monkeypatch, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    expected = sentiment_model.logits(texts)
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    got = sentiment_model.logits(texts)
    assert sentiment_model._compiled_logits is not None and not sentiment_model._kernel_failed
    return expected, got


def assert_same_scoring(monkeypatch, texts: list[str]) -> None:
    expected, got = both_ways(monkeypatch, texts)
    assert got.shape == expected.shape == (len(texts), 2)
    assert np.array_equal(np.isnan(got), np.isnan(expected)), "blank rows differ"
    blank = np.isnan(expected[:, 0])
    worst = np.abs(got[~blank] - expected[~blank]).max(initial=0.0)
    assert worst <= TOLERANCE, f"logits differ by {worst}"
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    numpy_scores, numpy_classes = sentiment_model.score_arrays(texts)
    numpy_labels = sentiment_model.score_batch(texts)
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    kernel_scores, kernel_classes = sentiment_model.score_arrays(texts)
    assert np.array_equal(kernel_classes, numpy_classes)
    assert np.abs(kernel_scores - numpy_scores).max(initial=0.0) <= TOLERANCE
    assert [s.label for s in sentiment_model.score_batch(texts)] == [s.label for s in numpy_labels]


def test_hand_written_tweets(monkeypatch):
    assert_same_scoring(monkeypatch, ALL_TWEETS)
    _, got = both_ways(monkeypatch, ALL_TWEETS)
    assert not np.isnan(got).any()
    assert np.abs(got).max() > 0.5  # real logits, not a constant that happens to match


EDGE_CASES = [
    "",
    " ",
    "\n\t  \r",
    "\u200b\u200d",
    "\ufe0f",
    "\xa0",
    "😍😍😍",
    "🙂",
    "👍🏽👍🏿 thumbs",
    "👨‍👩‍👧 family ❤️",
    "❤︎ ☺️",
    "I got 99 problems and 1234567890 solutions",
    "room 101, 202 and 9",
    "it\u2019s \u2018quoted\u2019 \u201cdouble\u201d don\u2019t",  # curly quotes
    "don't won't can\u2019t",
    "soooooooo goooood!!!!!!",
    "aaa",
    "aa",
    "   leading and trailing   ",
    "a  b   c    d",
    "this is not",
    "not.",
    "not, good",
    "not good at all, but not bad either!",
    "never ever ever happy",
    "I don't think it's not bad; it is no good",
    "x" * (MAX_CHARS + 100),
    ("Awful weather, I hate the rain. " * 40),
    ("great " * 200) + "terrible",
    "Привет, как дела? Отлично!",
    "今日はとても楽しかった\uff01",
    "مرحبا بالعالم",
    "שלום עולם",
    "Ελληνικά ΟΔΟΣ σοφός",
    "İstanbul'da İyi günler",  # lower() lengthens İ: the per-text lowering path
    "ǅemal ﬁne ß",
    "#love @user http://t.co/abc123",
    "!!!",
    "?",
    ":) :( :D <3",
    "I loooove it :) <3 :D",
    ":-) ;) :P :/ </3 (: ):",
    "not :( but not :)",
    "186 1337 143 86 2021",
    "what?? no!! why?!",
    "never nothing nobody",
    "\x7f\x00\x01 control",
    "tab\tseparated\tvalues",
    "a",
    "'",
    "I",
    "no",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_case_alone(monkeypatch, text):
    assert_same_scoring(monkeypatch, [text])


def test_edge_cases_together(monkeypatch):
    assert_same_scoring(monkeypatch, EDGE_CASES + list(reversed(EDGE_CASES)))


def test_lone_surrogates_as_the_numpy_path_takes_them(monkeypatch):
    texts = ["bad \ud83d day", "\udc00", "ok \ud800\udc00 fine"]
    assert_same_scoring(monkeypatch, texts)


def mixed_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [
        "love", "hate", "not", "never", "good", "bad", "rain", "sun", "great", "awful", "don't",
        "can't", "happy", "sad", "ok", "😍", "😡", "❤️", "👍🏽", "\u200d", "…", "!", "?", ",", ".", "99",
        "\u2019", "soooo", "Ünïcødé", "日本",
        "\u200b", "\t", "  ", "İ", "\ud800",
    ]  # fmt: skip
    texts = []
    for _ in range(count):
        n = rng.choice([0, 1, 2, 5, 12, 30, 120])
        texts.append(
            " ".join(rng.choice(words) for _ in range(n))
            if rng.random() > 0.1
            else "".join(rng.choice(words) for _ in range(n))
        )
    return texts


def test_five_thousand_mixed_texts_across_chunks(monkeypatch):
    texts = mixed_texts(5000, seed=7) + ALL_TWEETS
    assert len(texts) > sentiment_model.CHUNK_TEXTS
    assert_same_scoring(monkeypatch, texts)


def test_all_tweeteval_texts(monkeypatch):
    data_dir = evaluation.default_data_dir()
    if not data_dir.is_dir():
        pytest.skip(f"the TweetEval texts are not at {data_dir} (set KAFKAPIPELINE_REFERENCE_DATA)")
    texts = evaluation.load_tweeteval(data_dir).texts
    assert len(texts) > 10_000
    assert_same_scoring(monkeypatch, texts)


def test_the_kernel_sees_every_feature():
    """The kernel's logits move with each part of the model: a bug that drops one would show."""
    model = sentiment_model.weights()
    texts = ["I love this, not bad at all 😍", "what a terrible day"]

    def kernel(m: sentiment_model.Weights) -> np.ndarray:
        out = np.empty((len(texts), 2))
        compiled.logits(texts, m, out)
        return out

    base = kernel(model)
    for changed in (
        model._replace(table=np.zeros_like(model.table)),
        model._replace(bias=model.bias + 1.0),
        model._replace(lexicon_weights=np.zeros_like(model.lexicon_weights)),
    ):
        assert np.abs(kernel(changed) - base).min() > 1e-6


@pytest.mark.parametrize("name", features.LEXICON_FEATURE_NAMES)
def test_the_kernel_sees_every_dense_feature(monkeypatch, name):
    """A text with every cue: dropping one dense feature's weights moves the kernel's logits as numpy's."""
    model = sentiment_model.weights()
    texts = ["Not sooo good?! :( but I love it 😍"]
    weights = model.lexicon_weights.copy()
    weights[features.LEXICON_FEATURE_NAMES.index(name)] = 0.0
    changed = model._replace(lexicon_weights=weights)
    out, out_changed = np.empty((1, 2)), np.empty((1, 2))
    compiled.logits(texts, model, out)
    compiled.logits(texts, changed, out_changed)
    assert np.abs(out_changed - out).min() > 1e-6
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    assert np.allclose(out_changed, sentiment_model.logits(texts, changed), atol=TOLERANCE, rtol=0)


def test_auto_stays_on_numpy_until_the_threshold(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "auto")
    monkeypatch.setattr(sentiment_model, "COMPILED_MIN_TEXTS", 50)
    sentiment_model.score_batch(ALL_TWEETS)  # 28 texts: numpy
    assert sentiment_model._compiled_logits is None
    assert sentiment_model._numpy_texts == len(ALL_TWEETS)
    sentiment_model.score_batch(ALL_TWEETS[:20])  # 48 in all: still numpy
    assert sentiment_model._compiled_logits is None
    sentiment_model.score_batch(ALL_TWEETS[:2])  # the 50th text: the kernel from now on
    assert sentiment_model._compiled_logits is not None
    sentiment_model.score_batch(["one more"])
    assert sentiment_model._numpy_texts == 48


def test_auto_loads_the_kernel_at_once_for_a_big_batch(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "auto")
    monkeypatch.setattr(sentiment_model, "COMPILED_MIN_TEXTS", 30)
    sentiment_model.score_batch(ALL_TWEETS + ALL_TWEETS)
    assert sentiment_model._compiled_logits is not None
    assert sentiment_model._numpy_texts == 0


def test_numpy_switch_never_loads_the_kernel(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    monkeypatch.setattr(sentiment_model, "COMPILED_MIN_TEXTS", 1)
    sentiment_model.score_batch(ALL_TWEETS)
    assert sentiment_model._compiled_logits is None


def test_a_bad_switch_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "fast")
    with pytest.raises(ValueError, match="KAFKAPIPELINE_SCORING_KERNEL='fast'"):
        sentiment_model.score_batch(["fine"])


def test_without_numba_numpy_scores_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    expected = sentiment_model.score_batch(ALL_TWEETS)
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.delitem(sys.modules, "kafkapipeline.sentiment.model.compiled")
    monkeypatch.delattr(sentiment_model, "compiled")  # else `from ... import compiled` finds it
    with caplog.at_level(logging.WARNING, logger=sentiment_model.__name__):
        assert sentiment_model.score_batch(ALL_TWEETS) == expected
        assert sentiment_model.score_batch(ALL_TWEETS) == expected
    warnings = [r.getMessage() for r in caplog.records if r.name == sentiment_model.__name__]
    assert len(warnings) == 1 and "does not import (import of numba halted" in warnings[0], warnings
    assert sentiment_model._kernel_failed and sentiment_model._compiled_logits is None


def test_a_kernel_numba_cannot_cache_falls_back_to_numpy(monkeypatch, caplog):
    """numba raises RuntimeError at decoration when no cache folder is writable (read-only installs)."""
    import numba

    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    expected = sentiment_model.score_batch(ALL_TWEETS)

    def no_cache(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot cache function 'logits_kernel': no locator available for file")

    monkeypatch.setattr(numba, "njit", no_cache)
    monkeypatch.delitem(sys.modules, "kafkapipeline.sentiment.model.compiled")
    monkeypatch.delattr(sentiment_model, "compiled")
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    with caplog.at_level(logging.WARNING, logger=sentiment_model.__name__):
        assert sentiment_model.score_batch(ALL_TWEETS) == expected
    warnings = [r.getMessage() for r in caplog.records if r.name == sentiment_model.__name__]
    assert len(warnings) == 1 and "no locator available" in warnings[0], warnings


def test_a_kernel_that_does_not_compile_falls_back_to_numpy(monkeypatch, caplog):
    from numba.core.errors import TypingError

    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "numpy")
    expected = sentiment_model.score_batch(ALL_TWEETS)
    calls = []

    def does_not_compile(*args: object) -> None:
        calls.append(args)
        raise TypingError("Cannot determine Numba type of <class 'object'>")

    monkeypatch.setattr(compiled, "logits_kernel", does_not_compile)
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    with caplog.at_level(logging.WARNING, logger=sentiment_model.__name__):
        assert sentiment_model.score_batch(ALL_TWEETS) == expected
        assert sentiment_model.score_batch(ALL_TWEETS) == expected
    assert len(calls) == 1  # tried once, then numpy for good
    warnings = [r.getMessage() for r in caplog.records if r.name == sentiment_model.__name__]
    assert len(warnings) == 1 and "TypingError" in warnings[0], warnings


def test_non_text_is_the_same_clear_error_on_the_kernel(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType, not str"):
        sentiment_model.score_batch(["fine", None])  # type: ignore[list-item]
    assert not sentiment_model._kernel_failed


def test_empty_batch_on_the_kernel(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_SCORING_KERNEL", "compiled")
    assert sentiment_model.score_batch([]) == []
    assert sentiment_model.logits([]).shape == (0, 2)


def test_a_small_auto_batch_does_not_import_numba():
    """A fresh process scoring a drain's 20 tweets under auto never imports numba."""
    code = """
import sys
from kafkapipeline.sentiment import model as sentiment_model
sentiment_model.score_batch(["I love it"] * 20)
print("numba" in sys.modules)
"""
    assert run_in_fresh_interpreter(code).strip() == "False"


def test_joined_code_points_are_what_the_numpy_path_reads():
    texts = ["Hi", "", "İx", "x" * (MAX_CHARS + 5)]
    codes, lengths = features.joined_code_points(texts)
    row_codes, rows = features._code_points(texts)
    assert np.array_equal(codes, row_codes)
    assert lengths.tolist() == np.bincount(rows, minlength=len(texts)).tolist()
    assert lengths.tolist() == [4, 2, 5, MAX_CHARS + 2]
