"""Evaluate the tweet sentiment model against VADER on every held-out split, and time both.

Splits (``kafkapipeline.sentiment.model.evaluation``): in-domain (the held-out 20% of TweetEval's test file),
the whole val file (other SemEval years, never trained on) and the hand-labelled set (recorded Mastodon, X
and seed CSV texts). For each, the model and VADER side by side: macro-F1, 3-class accuracy, 2-class accuracy
(gold positive/negative only, by the sign of the score), per-class recall and the confusion matrices. Speed:
tweets/s on one core (best of ``--repeat``), the model in batches on its numpy path and compiled kernel,
VADER one at a time; then, in fresh processes, the kernel's import, load and compile cost. Needs the shared
reference data (else it says so, exit 0)::

    .venv/bin/python bench/sentiment_eval.py [--tweets 100000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins"))

import numpy as np  # noqa: E402

from kafkapipeline.sentiment import model as sentiment_model  # noqa: E402
from kafkapipeline.sentiment import vader as sentiment  # noqa: E402
from kafkapipeline.sentiment.model import evaluation  # noqa: E402

VADER_IDS = {sentiment.NEGATIVE: evaluation.NEGATIVE_ID, sentiment.POSITIVE: evaluation.POSITIVE_ID}


def vader(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    scored = [sentiment.score_text(text) for text in texts]
    return (
        np.array([s.score for s in scored]),
        np.array([VADER_IDS.get(s.label, evaluation.NEUTRAL_ID) for s in scored]),
    )


def per_second(score: Callable[[list[str]], object], texts: list[str], batch: int, repeat: int) -> float:
    """Best texts/s of ``repeat`` runs, in CPU seconds of this process (one core)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for start in range(0, len(texts), batch):
            score(texts[start : start + batch])
        best = min(best, time.process_time() - started)
    return len(texts) / best


#: Run in a fresh process: CPU seconds of numba's import and of the kernel's first call.
KERNEL_START = """
import sys, time
sys.path.insert(0, {plugins!r})
import numpy as np
from kafkapipeline.sentiment import model as sentiment_model
model = sentiment_model.weights()
started = time.process_time()
from kafkapipeline.sentiment.model import compiled
imported = time.process_time()
compiled.logits(["warm up"], model, np.empty((1, 2)))
print(imported - started, time.process_time() - imported)
"""


def kernel_start(cache_dir: str | None = None) -> tuple[float, float]:
    """(import, first call) CPU seconds in a fresh process; ``cache_dir``: numba's, empty = compile."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    code = KERNEL_START.format(plugins=str(REPO_ROOT / "plugins"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    imported, first = map(float, out.stdout.split())
    return imported, first


def print_split(
    name: str, part: evaluation.Dataset, model_fig: evaluation.Figures, vader_fig: evaluation.Figures
) -> None:
    counts = np.bincount(part.labels, minlength=len(evaluation.CLASSES))
    print(
        f"\n{name}: {len(part.texts)} texts, "
        + ", ".join(f"{n} {label.lower()}" for label, n in zip(evaluation.CLASSES, counts, strict=True))
    )
    model_name = f"{sentiment_model.MODEL_NAME} {sentiment_model.MODEL_VERSION}"
    print(f"  {'':<30}{model_name:>26}{'VADER':>12}{'difference':>12}")
    rows = [
        ("macro-F1", model_fig.macro_f1, vader_fig.macro_f1),
        ("accuracy (3-class)", model_fig.accuracy, vader_fig.accuracy),
        ("2-class accuracy (pos/neg)", model_fig.binary_accuracy, vader_fig.binary_accuracy),
    ]
    rows += [
        (f"recall {label.lower()}", model_fig.recall[i], vader_fig.recall[i])
        for i, label in enumerate(evaluation.CLASSES)
    ]
    for label, ours, theirs in rows:
        print(f"  {label:<30}{ours:>26.3f}{theirs:>12.3f}{ours - theirs:>+12.3f}")
    for who, fig in ((model_name, model_fig), ("VADER", vader_fig)):
        print(f"  confusion, {who} (rows gold, columns predicted):")
        print("    " + " " * 10 + "".join(f"{label:>10}" for label in evaluation.CLASSES))
        for label, row in zip(evaluation.CLASSES, fig.confusion, strict=True):
            print(f"    {label:<10}" + "".join(f"{count:>10}" for count in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tweets", type=int, default=100_000, help="texts timed for the model")
    parser.add_argument("--vader-tweets", type=int, default=10_000, help="texts timed for VADER")
    parser.add_argument("--batch", type=int, default=10_000, help="texts per score_batch call")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, the best is reported")
    args = parser.parse_args()

    reference = evaluation.reference_data_dir()
    if not evaluation.default_data_dir().is_dir():
        print(f"skipped: the shared reference data is not at {reference} (set KAFKAPIPELINE_REFERENCE_DATA)")
        return
    splits = evaluation.all_splits()
    print(
        f"trained on {len(splits.train.texts)} tweets (80% of the TweetEval test file, seed "
        f"{evaluation.SPLIT_SEED}); every split below is held out"
    )
    summary = []
    for name, part in splits.held_out.items():
        scores, predicted = sentiment_model.score_arrays(part.texts)
        model_fig = evaluation.figures(part.labels, predicted, scores)
        vader_scores, vader_predicted = vader(part.texts)
        vader_fig = evaluation.figures(part.labels, vader_predicted, vader_scores)
        print_split(name, part, model_fig, vader_fig)
        summary.append((name, model_fig, vader_fig))
    print("\nsummary, model / VADER (macro-F1, 2-class accuracy):")
    for name, model_fig, vader_fig in summary:
        print(
            f"  {name:<52} {model_fig.macro_f1:.3f} / {vader_fig.macro_f1:.3f}   "
            f"{model_fig.binary_accuracy:.3f} / {vader_fig.binary_accuracy:.3f}"
        )

    texts = splits.held_out[evaluation.IN_DOMAIN].texts
    cycled = [texts[i % len(texts)] for i in range(args.tweets)]
    sentiment_model.weights()  # loading is not part of scoring
    rates = {}
    for kernel in ("numpy", "compiled"):
        os.environ["KAFKAPIPELINE_SCORING_KERNEL"] = kernel
        sentiment_model.score_batch(cycled[:10])  # the kernel's import and load are timed below
        rates[kernel] = per_second(sentiment_model.score_batch, cycled, args.batch, args.repeat)
    vader_rate = per_second(vader, cycled[: args.vader_tweets], args.batch, 1)
    mean_chars = sum(map(len, cycled)) / len(cycled)
    print(
        f"\nspeed on one core (CPU time, best of {args.repeat}; tweets average {mean_chars:.0f} characters):"
    )
    for kernel, rate in rates.items():
        print(
            f"  {sentiment_model.MODEL_NAME:<12} {rate:>10,.0f} tweets/s  {1e6 / rate:5.2f} us/tweet"
            f"  ({kernel}, score_batch, {args.batch:,} a call)"
        )
    print(f"  {'VADER':<12} {vader_rate:>10,.0f} tweets/s  {1e6 / vader_rate:5.2f} us/tweet  (one at a time)")
    print(f"  kernel / numpy: {rates['compiled'] / rates['numpy']:.2f}x")

    imported, loaded = kernel_start()
    with tempfile.TemporaryDirectory() as empty:
        _, compiled = kernel_start(empty)
    print(
        f"\ncompiled kernel, fresh process (CPU): numba import {imported:.2f} s + cached kernel load "
        f"{loaded:.2f} s = {imported + loaded:.2f} s; with an empty cache, compile {compiled:.2f} s"
    )
    saved = 1 / rates["numpy"] - 1 / rates["compiled"]
    print(
        f"  pays for itself after {(imported + loaded) / saved:,.0f} tweets a process "
        f"(COMPILED_MIN_TEXTS = {sentiment_model.COMPILED_MIN_TEXTS:,})"
    )


if __name__ == "__main__":
    main()
