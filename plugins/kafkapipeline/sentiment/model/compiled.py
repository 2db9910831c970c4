"""The sentiment model's logits computed by one numba kernel, text by text, equal to the numpy path's.

Why: the numpy featuriser materialises every feature batch-wide; this kernel walks each text twice into
small buffers instead. It reproduces ``features.featurise`` + ``logits`` step by step (same constants,
hashes and summation order), so a change to ``features.py`` must be made here too; the unit tests pin the
agreement. Importing numba costs CPU, so ``logits`` imports this module lazily; the kernel is cached on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numba import njit
from numba.core.errors import NumbaError

from kafkapipeline.sentiment.model import features

if TYPE_CHECKING:
    from kafkapipeline.sentiment.model import Weights

_SPACE, _WORD, _SYMBOL = features._SPACE, features._WORD, features._SYMBOL  # frozen into the kernel
#: The hash constants in one array: the kernel takes plain arrays, never Python objects.
_CONSTS = np.array(
    [
        features._CHAR_SHIFT_MULT,
        features._SALT_WORD,
        features._SALT_BIGRAM,
        features._SALT_NEG,
        features._BIGRAM_MULT,
        64 - features.BUCKET_BITS,  # a hash's top bits are its bucket
        46,  # Lexicon.candidates: entries by their top 18 bits
        52,  # the negator filter: negators by their top 12 bits
        features._SALT_EMOTICON,
    ],
    dtype=np.uint64,
)
_NEGATORS = np.sort(features._NEGATOR_HASHES)
_NEGATOR_FILTER = np.zeros(1 << 12, dtype=np.bool_)
_NEGATOR_FILTER[(_NEGATORS >> np.uint64(52)).astype(np.int64)] = True
#: ``features._normalise`` of each ASCII code point alone: digits become 0, separators a space.
_ASCII_NORMAL = np.arange(128, dtype=np.int64)
_ASCII_NORMAL[(_ASCII_NORMAL >= 0x31) & (_ASCII_NORMAL <= 0x39)] = 0x30
_ASCII_NORMAL[features._ASCII_CLASS[:128] == _SPACE] = 0x20
if features._BREAK_CODES.max() >= 128 or features.CHAR_NGRAM != 4 or features.LEXICON_FEATURES != 9:
    raise ImportError("compiled.py looks clause breaks up among ASCII, hashes 4-grams, has 9 dense features")
_ASCII_BREAK = np.zeros(128, dtype=np.bool_)
_ASCII_BREAK[features._BREAK_CODES] = True


class CompileError(RuntimeError):
    """The kernel did not compile for the arrays given (``logits`` then scores with numpy)."""


@njit(cache=True, nogil=True, inline="always")
def _mix(h: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64's finaliser (``features._mix``)."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


@njit(cache=True, nogil=True, inline="always")
def _char_class(c: int, ascii_class: np.ndarray) -> int:  # pragma: no cover - compiled
    """``features._classes`` for one code point."""
    if c < 128:
        return ascii_class[c]
    if (
        c < 0xC0  # Latin-1 controls and no-break space
        or (c >= 0x200B and c <= 0x200F)  # zero-width joiners and marks
        or (c >= 0xFE00 and c <= 0xFE0F)  # emoji variation selectors
        or (c >= 0x1F3FB and c <= 0x1F3FF)  # skin tones
    ):
        return _SPACE
    if c < 0x2000:  # Latin, Greek, Cyrillic, Hebrew, Arabic...
        return _WORD
    return _SYMBOL


@njit(cache=True, nogil=True, inline="always")
def _sorted_index(values: np.ndarray, key: np.uint64) -> int:  # pragma: no cover - compiled
    """Index of ``key`` in the sorted ``values``, or -1."""
    n = values.size
    if n == 0:
        return -1
    base = 0
    while n > 1:  # branch-free halving (a conditional move): tokens' hashes are unpredictable
        half = n >> 1
        base = base + half if values[base + half] <= key else base
        n -= half
    return base if values[base] == key else -1


@njit(cache=True, nogil=True, inline="always")
def _squash(x: float, alpha: float) -> float:  # pragma: no cover - compiled
    return x / np.sqrt(x * x + alpha)


@njit(cache=True, nogil=True, inline="always")
def _fraction(count: int) -> float:  # pragma: no cover - compiled
    """``features._fraction``."""
    return count / (count + 1.0)


@njit(cache=True, nogil=True)
def logits_kernel(  # noqa: PLR0912, PLR0915, PLR0917 - one pass per text; plain arrays in
    codes: np.ndarray,  # uint32, the padded texts one after the other (joined_code_points)
    offsets: np.ndarray,  # int64 (n + 1,), where each padded text starts; offsets[n] == codes.size
    ascii_class: np.ndarray,  # int8 (129,), features._ASCII_CLASS
    ascii_normal: np.ndarray,  # int64 (128,), what _normalise makes of each ASCII code point
    token_mult: np.ndarray,  # uint64 (32,)
    char_mult: np.ndarray,  # uint64 (CHAR_NGRAM,), CHAR_NGRAM == 4
    consts: np.ndarray,  # uint64: char shift multiplier, word, bigram and negation salts, bigram
    # multiplier, bucket shift, lexicon prefix shift, negator filter shift, emoticon salt
    negators: np.ndarray,  # uint64, sorted token hashes of the negators
    negator_filter: np.ndarray,  # bool (4096,), whether some negator has these top 12 bits
    ascii_break: np.ndarray,  # bool (128,), the code points that end a clause (all ASCII)
    table: np.ndarray,  # float32 (N_BUCKETS + 1, 2)
    bias: np.ndarray,  # float64 (2,)
    lexicon_hashes: np.ndarray,  # uint64, sorted
    lexicon_values: np.ndarray,  # float32
    lexicon_present: np.ndarray,  # bool (1 << 18,)
    lexicon_weights: np.ndarray,  # float64 (LEXICON_FEATURES, 2)
    negation_scope: int,
    negated_valence: float,
    squash_alpha: float,
    out: np.ndarray,  # float64 (n, 2), written
) -> None:  # pragma: no cover - compiled
    """Logits of each text (NaN for a text without a token), as ``sentiment_model.logits``."""
    n_mult = token_mult.size
    char_shift_mult = consts[0]
    salt_word = consts[1]
    salt_bigram = consts[2]
    salt_neg = consts[3]
    bigram_mult = consts[4]
    shift = consts[5]
    present_shift = consts[6]
    filter_shift = consts[7]
    salt_emoticon = consts[8]
    mult0 = char_mult[0]
    mult1 = char_mult[1]
    mult2 = char_mult[2]
    mult3 = char_mult[3]
    n_texts = offsets.size - 1
    longest = 0
    for r in range(n_texts):
        longest = max(longest, offsets[r + 1] - offsets[r])
    norm = np.empty(longest, dtype=np.int64)  # the normalised text
    kind = np.empty(longest, dtype=np.int8)  # its character classes
    buckets = np.empty(2 * longest, dtype=np.int64)  # a text's n-gram buckets (bigrams: second half)
    emoticons = np.empty(longest, dtype=np.float64)  # a text's emoticon valences, summed after its tokens'
    for r in range(n_texts):
        start = offsets[r]
        stop = offsets[r + 1]
        # Pass 1 (features._normalise): digits -> 0, curly quotes -> ', separators -> space; a space
        # after a space and a character equal to the two before it (in the input) are dropped.
        m = 0
        prev1 = -1
        prev2 = -1
        elongated = 0  # letters dropped from runs of 3+ (not digits: "0000" is a number)
        for i in range(start, stop):
            c = int(codes[i])
            if c < 128:
                cls = ascii_class[c]
                c = ascii_normal[c]
            else:
                if 0x2018 <= c <= 0x2019:  # curly single quotes
                    c = 0x27
                cls = _char_class(c, ascii_class)
                if cls == _SPACE:
                    c = 0x20
            run = (c == prev1) & (prev1 == prev2)
            keep = not (((c == 0x20) & (prev1 == 0x20)) | run)
            elongated += run & (cls == _WORD) & (c != 0x30)
            norm[m] = c  # written always, kept by moving on: no branch
            kind[m] = cls
            m += keep
            prev2 = prev1
            prev1 = c

        # Character 4-grams (rolling linear hash, multiply-shift bucket), summed in text order.
        char0 = 0.0
        char1 = 0.0
        char_count = max(m - 3, 0)  # CHAR_NGRAM == 4, unrolled
        for i in range(char_count):
            h = np.uint64(norm[i]) * mult0 + np.uint64(norm[i + 1]) * mult1
            h += np.uint64(norm[i + 2]) * mult2 + np.uint64(norm[i + 3]) * mult3
            buckets[i] = np.int64((h * char_shift_mult) >> shift)
        for i in range(char_count):  # gathered apart: the loads overlap
            char0 += np.float64(table[buckets[i], 0])
            char1 += np.float64(table[buckets[i], 1])

        # Pass 2 (features._token_hashes, _negated, _lexicon_features and the word features).
        n_bigrams = 0
        lex_all = 0.0
        lex_pos = 0.0
        lex_neg = 0.0
        n_positive = 0
        n_negative = 0
        n_emoticons = 0
        n_bangs = 0
        n_questions = 0
        n_negators = 0
        n_tokens = 0
        last_negator = -negation_scope - 1  # token index of the last negator in this clause
        prev_hash = np.uint64(0)
        j = 0
        while j < m:
            cls = kind[j]
            if cls == _SPACE:
                j += 1
                continue
            first = norm[j]
            acc = np.uint64(norm[j] + 1) * token_mult[0]
            j += 1
            if cls == _WORD:
                offset = 1
                while j < m and kind[j] == _WORD:
                    acc += np.uint64(norm[j] + 1) * token_mult[min(offset, n_mult - 1)]
                    offset += 1
                    j += 1
            h = _mix(acc)
            negated = n_tokens - last_negator <= negation_scope
            if first < 128 and ascii_break[first]:  # a break is in the next clause: not negated
                negated = False
                last_negator = -negation_scope - 1
            elif negator_filter[np.int64(h >> filter_shift)] and _sorted_index(negators, h) >= 0:
                last_negator = n_tokens
                n_negators += 1
            n_bangs += first == 0x21
            n_questions += first == 0x3F

            unigram = (_mix(h ^ salt_neg) if negated else h) ^ salt_word
            buckets[n_tokens] = np.int64(_mix(unigram) >> shift)
            if n_tokens > 0:
                bigram = (prev_hash * bigram_mult + h) ^ salt_bigram
                buckets[longest + n_bigrams] = np.int64(_mix(bigram) >> shift)
                n_bigrams += 1
                pair = _mix((prev_hash * bigram_mult + h) ^ salt_emoticon)  # features.emoticon_hash
                if lexicon_present[np.int64(pair >> present_shift)]:
                    at = _sorted_index(lexicon_hashes, pair)
                    if at >= 0:
                        emoticons[n_emoticons] = np.float64(lexicon_values[at])
                        n_emoticons += 1
            prev_hash = h
            n_tokens += 1

            if lexicon_present[np.int64(h >> present_shift)]:
                at = _sorted_index(lexicon_hashes, h)
                if at >= 0:
                    valence = np.float64(lexicon_values[at])
                    if negated:
                        valence *= negated_valence
                    lex_all += valence
                    lex_pos += max(valence, 0.0)
                    lex_neg += min(valence, 0.0)
                    n_positive += int(valence > 0)
                    n_negative += int(valence < 0)

        if n_tokens == 0:
            out[r, 0] = np.nan
            out[r, 1] = np.nan
            continue
        word0 = 0.0
        word1 = 0.0
        for i in range(n_tokens):  # bincount's order: the unigrams, then the bigrams
            word0 += np.float64(table[buckets[i], 0])
            word1 += np.float64(table[buckets[i], 1])
        for i in range(longest, longest + n_bigrams):
            word0 += np.float64(table[buckets[i], 0])
            word1 += np.float64(table[buckets[i], 1])
        for i in range(n_emoticons):  # bincount's order: the tokens' valences, then the emoticons'
            valence = emoticons[i]
            lex_all += valence
            lex_pos += max(valence, 0.0)
            lex_neg += min(valence, 0.0)
            n_positive += int(valence > 0)
            n_negative += int(valence < 0)
        word_norm = np.sqrt(np.float64(n_tokens + n_bigrams))
        char_norm = np.sqrt(np.float64(max(char_count, 1)))
        dense = (
            _squash(lex_all, squash_alpha),
            _squash(lex_pos, squash_alpha),
            _squash(lex_neg, squash_alpha),
            _fraction(n_positive),
            _fraction(n_negative),
            _fraction(n_bangs),
            _fraction(n_questions),
            _fraction(elongated),
            _fraction(n_negators),
        )
        for k in range(2):
            word = word0 if k == 0 else word1
            char = char0 if k == 0 else char1
            lex = 0.0
            for f in range(9):
                lex += dense[f] * lexicon_weights[f, k]
            out[r, k] = bias[k] + word / word_norm + char / char_norm + lex


def logits(texts: Sequence[str], model: Weights, out: np.ndarray) -> None:
    """Fill ``out`` (len(texts), 2) with the logits of ``texts``: one chunk of ``logits``."""
    codes, lengths = features.joined_code_points(texts)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    try:
        _run_kernel(codes, offsets, model, out)
    except NumbaError as err:
        raise CompileError(f"{type(err).__name__}: {err}") from err


def _run_kernel(codes: np.ndarray, offsets: np.ndarray, model: Weights, out: np.ndarray) -> None:
    logits_kernel(
        codes,
        offsets,
        features._ASCII_CLASS,
        _ASCII_NORMAL,
        features._TOKEN_MULT,
        features._CHAR_MULT,
        _CONSTS,
        _NEGATORS,
        _NEGATOR_FILTER,
        _ASCII_BREAK,
        model.table,
        model.bias,
        model.lexicon.hashes,
        model.lexicon.values,
        model.lexicon_present,
        model.lexicon_weights,
        features.NEGATION_SCOPE,
        features.NEGATED_VALENCE,
        features.SQUASH_ALPHA,
        out,
    )
