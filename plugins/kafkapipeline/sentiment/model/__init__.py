"""Tweet sentiment with a linear model over hashed word and character n-grams, scored in batches.

Why: it reads tweets better than VADER's lexicon, on other sources too (docs/sentiment.md), at a fraction
of its cost. A 3-class linear model trained by ``scripts/train-sentiment`` (an n-gram and a lexicon logistic
regression summed, weights in ``weights.npz``), scored with numpy (``features.py``) or a numba kernel
computing the same logits faster (``compiled.py``):
``KAFKAPIPELINE_SCORING_KERNEL=auto`` uses the kernel once preloaded or after ``COMPILED_MIN_TEXTS`` texts,
and numpy if it cannot compile. Same contract as VADER: score P(positive) - P(negative), label the most
probable class, blank text Neutral 0.0. Nothing is read at import; the weights load on first scoring.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kafkapipeline.sentiment.vader import NEGATIVE, NEUTRAL, POSITIVE, Sentiment

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from kafkapipeline.sentiment.model.features import Lexicon

MODEL_NAME = "ngram-logreg"
#: The first 12 hex digits of the sha256 of the weights (``weights_digest``); scripts/train-sentiment
#: rewrites this line when it writes new weights, and loading refuses weights that do not match.
MODEL_VERSION = "91d510e73eb8"
WEIGHTS_PATH = Path(__file__).with_name("weights.npz")
#: Characters of a text that are scored; the rest is ignored (a tweet is at most 280 characters;
#: twice that leaves room for entities).
MAX_CHARS = 560
#: Texts featurised together: big enough to amortise numpy's per-call cost, small enough for the
#: per-character arrays to stay in the CPU cache.
CHUNK_TEXTS = 2000
#: Label of each class id, in the order of the training data's ids (0, 1, 2).
CLASS_LABELS = (NEGATIVE, NEUTRAL, POSITIVE)
#: Texts a process scores on numpy before ``auto`` loads the compiled kernel (a batch this big
#: loads it at once): loading costs CPU once per process, which the kernel repays only over many
#: tweets, so a small drain never pays it (docs/benchmarks.md).
COMPILED_MIN_TEXTS = 100_000

log = logging.getLogger(__name__)


class Weights(NamedTuple):
    """The learned model: per-bucket weights and the bias, as logits relative to Neutral.

    ``table[b] = (w_negative - w_neutral, w_positive - w_neutral)`` for bucket ``b``; the last row
    is the weight-0 bucket of character n-grams that cross into the next text.
    """

    table: np.ndarray  # (N_BUCKETS + 1, 2) float32
    bias: np.ndarray  # (2,) float64
    lexicon: Lexicon  # VADER's lexicon by token and emoticon-pair hash (prior valences, for dense features)
    lexicon_weights: np.ndarray  # (LEXICON_FEATURES, 2) float64
    lexicon_present: np.ndarray  # lexicon.candidates(), computed once


_weights: Weights | None = None
_weights_lock = threading.Lock()


#: The arrays of a weights file, in the order they enter the digest.
STORED_ARRAYS = ("buckets", "values", "bias", "lexicon_hashes", "lexicon_values", "lexicon_weights")


def weights_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 prefix of the stored arrays, the model's version."""
    digest = hashlib.sha256()
    for name in STORED_ARRAYS:
        digest.update(arrays[name].tobytes())
    return digest.hexdigest()[:12]


def load_weights(path: Path = WEIGHTS_PATH, expected_version: str | None = MODEL_VERSION) -> Weights:
    """Read a weights file; a file whose digest is not ``expected_version`` is refused."""
    import numpy as np

    from kafkapipeline.sentiment.model import features

    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in STORED_ARRAYS}
        bucket_bits = int(stored["bucket_bits"])
    if bucket_bits != features.BUCKET_BITS:
        raise ValueError(
            f"{path}: weights for {bucket_bits}-bit buckets, features use {features.BUCKET_BITS}"
        )
    version = weights_digest(arrays)
    if expected_version is not None and version != expected_version:
        raise ValueError(f"{path}: weights version {version} is not MODEL_VERSION {expected_version}")
    table = np.zeros((features.N_BUCKETS + 1, 2), dtype=np.float32)
    table[arrays["buckets"].astype(np.int64)] = arrays["values"]
    lexicon = features.Lexicon(arrays["lexicon_hashes"], arrays["lexicon_values"])
    return Weights(
        table=table,
        bias=arrays["bias"].astype(np.float64),
        lexicon=lexicon,
        lexicon_weights=arrays["lexicon_weights"].astype(np.float64),
        lexicon_present=lexicon.candidates(),
    )


def weights() -> Weights:
    """The process's model, read from ``WEIGHTS_PATH`` on first use."""
    global _weights  # noqa: PLW0603 - one copy of the weights per process is the point
    if _weights is None:
        with _weights_lock:
            if _weights is None:
                _weights = load_weights()
    return _weights


def _check_texts(texts: Sequence[Any]) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, not str")


#: The compiled kernel's ``logits`` once loaded; ``_kernel_failed``: numba missing or the kernel
#: did not compile (warned once), numpy from then on; ``_numpy_texts``: texts scored on numpy.
_compiled_logits: Callable[[Sequence[str], Weights, np.ndarray], None] | None = None
_kernel_failed = False
_numpy_texts = 0


def _kernel_unavailable(reason: str) -> None:
    global _kernel_failed  # noqa: PLW0603 - the process's choice, made once
    if not _kernel_failed:
        log.warning("sentiment scoring falls back to numpy: %s", reason)
    _kernel_failed = True


def _use_kernel(n_texts: int) -> bool:
    """Whether this batch goes to the compiled kernel (``KAFKAPIPELINE_SCORING_KERNEL``)."""
    global _compiled_logits  # noqa: PLW0603 - loaded once per process
    from kafkapipeline import settings

    choice = settings.current().scoring_kernel
    if choice == "numpy" or _kernel_failed:
        return False
    if choice == "auto" and _compiled_logits is None and _numpy_texts + n_texts < COMPILED_MIN_TEXTS:
        return False
    if _compiled_logits is None:
        try:
            from kafkapipeline.sentiment.model import compiled
        # RuntimeError: numba refuses cache=True when no cache folder is writable.
        except (ImportError, RuntimeError, OSError) as err:
            _kernel_unavailable(f"the compiled kernel does not import ({err})")
            return False
        _compiled_logits = compiled.logits
    return True


def preload() -> bool:
    """Load the weights and the compiled kernel now, unless ``KAFKAPIPELINE_SCORING_KERNEL=numpy``.

    Called once in each Celery worker (:mod:`kafkapipeline.runtime.celery_config`), so the tasks it
    forks inherit a loaded kernel. True when the kernel is ready; False means numpy scores (already warned).
    """
    import numpy as np

    model = weights()
    if not _use_kernel(COMPILED_MIN_TEXTS):  # as big as a batch that loads it at once
        return False
    # The first call loads the machine code from numba's cache (or compiles it): now, not in a task.
    return _kernel_logits(["preload"], model, np.empty((1, 2), dtype=np.float64))


def kernel_in_use() -> str:
    """``compiled`` once this process has the kernel loaded, else ``numpy`` (for logs and reports)."""
    return "compiled" if _compiled_logits is not None and not _kernel_failed else "numpy"


def logits(texts: Sequence[str], model: Weights | None = None) -> np.ndarray:
    """(n, 2) logits of Negative and Positive relative to Neutral; NaN rows for blank texts."""
    global _numpy_texts  # noqa: PLW0603 - counts towards COMPILED_MIN_TEXTS
    import numpy as np

    from kafkapipeline.sentiment.model import features

    model = model or weights()
    out = np.empty((len(texts), 2), dtype=np.float64)
    if _use_kernel(len(texts)) and _kernel_logits(texts, model, out):
        return out
    _numpy_texts += len(texts)
    pairs = model.table.view(np.float64).ravel()  # one 8-byte gather fetches both weights
    for start in range(0, len(texts), CHUNK_TEXTS):
        chunk = list(texts[start : start + CHUNK_TEXTS])
        try:
            feats = features.featurise(chunk, model.lexicon, model.lexicon_present)
        except (AttributeError, TypeError):
            _check_texts(chunk)
            raise
        word = pairs[feats.word_buckets].view(np.float32).reshape(-1, 2)
        n_words = np.bincount(feats.word_rows, minlength=feats.n_texts)
        word_sum = np.stack(
            [np.bincount(feats.word_rows, weights=word[:, k], minlength=feats.n_texts) for k in (0, 1)], 1
        )
        char = pairs[feats.char_buckets].view(np.float32).reshape(-1, 2)
        char_sum = np.add.reduceat(char, feats.char_row_starts, axis=0, dtype=np.float64)
        dense = np.zeros((feats.n_texts, 2))
        for column, weight in zip(feats.lexicon.T, model.lexicon_weights, strict=True):
            dense += column[:, None] * weight  # in a fixed order: a batch's texts score as alone
        z = (
            model.bias
            + word_sum / np.sqrt(np.maximum(n_words, 1))[:, None]
            + char_sum / np.sqrt(np.maximum(feats.char_counts, 1))[:, None]
            + dense
        )
        z[n_words == 0] = np.nan
        out[start : start + len(chunk)] = z
    return out


def _kernel_logits(texts: Sequence[str], model: Weights, out: np.ndarray) -> bool:
    """Fill ``out`` with the compiled kernel; False (numpy's turn) if it does not compile."""
    from kafkapipeline.sentiment.model.compiled import CompileError

    assert _compiled_logits is not None
    for start in range(0, len(texts), CHUNK_TEXTS):
        chunk = list(texts[start : start + CHUNK_TEXTS])
        try:
            _compiled_logits(chunk, model, out[start : start + len(chunk)])
        except (AttributeError, TypeError):
            _check_texts(chunk)
            raise
        except CompileError as err:
            _kernel_unavailable(f"the compiled kernel failed: {err}")
            return False
    return True


def score_arrays(texts: Sequence[str], model: Weights | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scores in [-1, 1] and class ids (0 Negative, 1 Neutral, 2 Positive) of a batch."""
    import numpy as np

    z = logits(texts, model)
    blank = np.isnan(z[:, 0])
    full = np.column_stack([z[:, 0], np.zeros(len(z)), z[:, 1]])
    full[blank] = 0.0
    full -= full.max(axis=1, keepdims=True)
    probs = np.exp(full)
    probs /= probs.sum(axis=1, keepdims=True)
    scores = np.clip(probs[:, 2] - probs[:, 0], -1.0, 1.0)
    classes = probs.argmax(axis=1)
    scores[blank] = 0.0
    classes[blank] = 1
    return scores, classes


def score_batch(texts: Sequence[str]) -> list[Sentiment]:
    """Score and label of every text, in order; blank text is Neutral 0.0."""
    import numpy as np

    scores, classes = score_arrays(texts)
    labels = np.array(CLASS_LABELS, dtype=object)[classes].tolist()
    make = tuple.__new__  # cheaper than Sentiment(...) per item
    return [make(Sentiment, pair) for pair in zip(scores.tolist(), labels, strict=True)]


def score_text(text: str) -> Sentiment:
    """Score and label of one text (score many at once with ``score_batch``: it is much faster)."""
    return score_batch([text])[0]
