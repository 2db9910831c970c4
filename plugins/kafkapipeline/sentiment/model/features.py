"""Hashed word and character n-gram features of a whole batch of texts, built with numpy.

Why this shape: scoring must be fast on one core, with no Python work per token, so the batch is joined
into one code-point array and every step is a whole-array numpy operation. The hashes are our own, never
Python's per-process ``hash``, so training and scoring put a feature in the same bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from kafkapipeline.sentiment.model import MAX_CHARS

#: Hash buckets of the linear model (a power of two): enough that the features training keeps rarely
#: share one, few enough that the weights table stays small in cache (docs/benchmarks.md#sentiment).
BUCKET_BITS = 19
N_BUCKETS = 1 << BUCKET_BITS
#: Length of the character n-grams (4 alone gives most of what 2- to 5-grams give, for less).
CHAR_NGRAM = 4
#: Tokens after a negation word (in the same clause) that are marked negated.
NEGATION_SCOPE = 3
NEGATORS = (
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "cannot", "without",
    "aint", "ain't", "isn't", "wasn't", "aren't", "weren't", "don't", "doesn't", "didn't", "can't",
    "couldn't", "won't", "wouldn't", "shouldn't", "haven't", "hasn't", "hadn't", "dont", "doesnt",
    "didnt", "cant", "couldnt", "wont", "wouldnt", "shouldnt", "havent", "hasnt", "isnt", "wasnt",
    "arent", "werent",
)  # fmt: skip
CLAUSE_BREAKS = ".,!?;:"

_U64 = np.uint64
_RNG = np.random.default_rng(20170401)
# Odd multipliers, one per position in a token (positions past 31 reuse the last one).
_TOKEN_MULT = _RNG.integers(1, 2**63, size=32, dtype=np.uint64) | _U64(1)
_CHAR_MULT = _RNG.integers(1, 2**63, size=CHAR_NGRAM, dtype=np.uint64) | _U64(1)
_CHAR_SHIFT_MULT = _U64(_RNG.integers(1, 2**63, dtype=np.uint64) | 1)
_SALT_WORD, _SALT_BIGRAM, _SALT_NEG, _SALT_EMOTICON = (
    _U64(s) for s in _RNG.integers(1, 2**63, size=4, dtype=np.uint64)
)
_BIGRAM_MULT = _U64(0x9E3779B97F4A7C15)

# Character classes: 0 separates tokens, 1 is part of a word, 2 is a token on its own.
_SPACE, _WORD, _SYMBOL = 0, 1, 2
_ASCII_CLASS = np.zeros(129, dtype=np.int8)
for _code in range(33, 127):
    _ASCII_CLASS[_code] = _WORD if chr(_code).isalnum() or chr(_code) in "_'#@" else _SYMBOL
_ASCII_CLASS[128] = _SYMBOL  # every non-ASCII code point before the fix-ups below


class BatchFeatures(NamedTuple):
    """The features of a batch: what training turns into a sparse matrix and scoring sums up.

    Word features (unigrams, negation-marked, and bigrams) are listed with the row they belong
    to. Character 4-grams are listed for every position of the joined batch, in row order
    (``char_row_starts`` says where each row's begin); a position whose 4-gram would cross into
    the next row points at bucket ``N_BUCKETS``, whose weight is 0.
    """

    n_texts: int
    word_rows: np.ndarray
    word_buckets: np.ndarray
    char_row_starts: np.ndarray
    char_buckets: np.ndarray
    char_counts: np.ndarray
    lexicon: np.ndarray  # (n_texts, LEXICON_FEATURES) float64; valence columns zero without a lexicon


class Lexicon(NamedTuple):
    """Prior valences (VADER's lexicon) of single tokens by token hash, and of two-token emoticons
    (":)", "<3") by :func:`emoticon_hash` of the pair, sorted for searchsorted."""

    hashes: np.ndarray  # uint64, sorted, unique
    values: np.ndarray  # float32

    def candidates(self) -> np.ndarray:
        """Which top-18-bit prefixes some entry has: most tokens skip the binary search."""
        present = np.zeros(1 << 18, dtype=bool)
        present[self.hashes >> _U64(46)] = True
        return present


#: Dense features, per text: squashed sums of all, of positive and of negative valences (the lexicon's
#: tokens and emoticons); then ``c / (c + 1)`` of the counts of positive and of negative lexicon hits,
#: of "!" and of "?" tokens, of letters dropped from elongated words ("sooo") and of negators.
LEXICON_FEATURE_NAMES = (
    "valence", "positive valence", "negative valence", "positive hits", "negative hits",
    "exclamation marks", "question marks", "elongated letters", "negators",
)  # fmt: skip
LEXICON_FEATURES = len(LEXICON_FEATURE_NAMES)
#: VADER's factor for a valence in a negation's scope, and its normalisation constant.
NEGATED_VALENCE = -0.74
SQUASH_ALPHA = 15.0


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: spreads every input bit over the whole hash."""
    h ^= h >> _U64(30)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(27)
    h *= _U64(0x94D049BB133111EB)
    h ^= h >> _U64(31)
    return h


def _code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lowered, capped texts as one code-point array (each text padded by a space) and row ids."""
    codes, lengths = joined_code_points(texts)
    return codes, np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)


def joined_code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lowered, capped texts as one code-point array, each text padded by a space on both sides,
    and each padded text's length (the compiled kernel takes these instead of row ids)."""
    if not texts:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if lengths.max() > MAX_CHARS:
        texts = [text[:MAX_CHARS] for text in texts]
        np.minimum(lengths, MAX_CHARS, out=lengths)
    joined = (" " + "  ".join(texts) + " ").lower()
    if len(joined) != lengths.sum() + 2 * len(texts):  # lower() lengthened a character (rare)
        texts = [text.lower() for text in texts]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        joined = " " + "  ".join(texts) + " "
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    return codes, lengths + 2


def _classes(codes: np.ndarray) -> np.ndarray:
    """Token class of every code point (ASCII by table, the rest by Unicode block)."""
    cls = _ASCII_CLASS[np.minimum(codes, 128)]
    letters = (codes >= 0xC0) & (codes < 0x2000)  # Latin, Greek, Cyrillic, Hebrew, Arabic...
    cls[letters] = _WORD
    invisible = (
        ((codes >= 0x80) & (codes < 0xC0))  # Latin-1 controls and no-break space
        | ((codes >= 0x200B) & (codes <= 0x200F))  # zero-width joiners and marks
        | ((codes >= 0xFE00) & (codes <= 0xFE0F))  # emoji variation selectors
        | ((codes >= 0x1F3FB) & (codes <= 0x1F3FF))  # skin tones
    )
    cls[invisible] = _SPACE
    return cls


def _normalise(codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits become 0, curly quotes straight, runs of 3+ equal characters and of spaces shrink."""
    codes, rows, cls, _ = _normalise_counting(codes, rows)
    return codes, rows, cls


def _normalise_counting(
    codes: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_normalise`, and the row of each letter dropped from a run of 3+ (an elongated word)."""
    codes[(codes >= 0x31) & (codes <= 0x39)] = 0x30
    codes[(codes == 0x2019) | (codes == 0x2018)] = 0x27
    cls = _classes(codes)
    codes[cls == _SPACE] = 0x20
    keep = np.ones(codes.size, dtype=bool)
    same_row = rows[1:] == rows[:-1]
    keep[1:] &= ~((codes[1:] == 0x20) & (codes[:-1] == 0x20) & same_row)
    run = np.zeros(codes.size, dtype=bool)
    run[2:] = (codes[2:] == codes[1:-1]) & (codes[1:-1] == codes[:-2]) & same_row[1:] & same_row[:-1]
    keep &= ~run
    elongated = rows[run & (cls == _WORD) & (codes != 0x30)]  # "0000" is a number, not elongation
    return codes[keep], rows[keep], cls[keep], elongated


def _token_hashes(codes: np.ndarray, rows: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hash, row and first character of every token (a word, or one symbol or emoji)."""
    is_word = cls == _WORD
    continues = np.zeros(codes.size, dtype=bool)
    continues[1:] = is_word[1:] & is_word[:-1] & (rows[1:] == rows[:-1])
    starts = (cls != _SPACE) & ~continues
    start_at = np.flatnonzero(starts)
    if start_at.size == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=rows.dtype), np.zeros(0, dtype=codes.dtype)
    # Offset of each character in its token (separators get value 0: they add nothing).
    index = np.arange(codes.size, dtype=np.int64)
    offset = index - np.maximum.accumulate(np.where(starts, index, 0))
    np.minimum(offset, _TOKEN_MULT.size - 1, out=offset)
    values = (codes.astype(np.uint64) + _U64(1)) * _TOKEN_MULT[offset]
    values[cls == _SPACE] = 0
    hashes = _mix(np.add.reduceat(values, start_at))
    return hashes, rows[start_at], codes[start_at]


def hash_tokens(words: Sequence[str]) -> np.ndarray:
    """The token hashes of all the words, as the batch featuriser computes them."""
    codes, rows = _code_points(words)
    hashes, _, _ = _token_hashes(*_normalise(codes, rows))
    return hashes


def emoticon_hash(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The lexicon key of two consecutive tokens (their token hashes), for two-token emoticons."""
    return _mix((first * _BIGRAM_MULT + second) ^ _SALT_EMOTICON)


def build_lexicon(valences: dict[str, float]) -> Lexicon:
    """A Lexicon of the entries that are one token to the featuriser, and of those that are two
    symbols (emoticons such as ":)" or "<3"); longer ones (":-)") and numbers are left out."""
    words = list(valences)
    codes, rows = _code_points(words)
    hashes, token_rows, first = _token_hashes(*_normalise(codes, rows))
    tokens = np.bincount(token_rows, minlength=len(words))
    table: dict[int, float] = {}
    starts = np.concatenate(([0], np.cumsum(tokens)[:-1]))
    for row in np.flatnonzero(tokens == 1).tolist():
        if not words[row].isdigit():  # numbers ("143", "187") are all "00" once digits are 0
            table[int(hashes[starts[row]])] = valences[words[row]]
    for row in np.flatnonzero(tokens == 2).tolist():  # emoticons only: two symbol tokens
        at = starts[row]
        classes = _ASCII_CLASS[np.minimum(first[at : at + 2], 128)]
        if (classes != _WORD).any():
            key = emoticon_hash(hashes[at : at + 1], hashes[at + 1 : at + 2])
            table.setdefault(int(key[0]), valences[words[row]])
    keys = np.array(sorted(table), dtype=np.uint64)
    return Lexicon(keys, np.array([table[k] for k in keys.tolist()], dtype=np.float32))


def _squash(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(x * x + SQUASH_ALPHA)


def _valences(keys: np.ndarray, lexicon: Lexicon, present: np.ndarray | None) -> np.ndarray:
    """The lexicon's valence of each key, 0 where it has none."""
    maybe = np.flatnonzero(present[keys >> _U64(46)]) if present is not None else np.arange(keys.size)
    at = np.minimum(np.searchsorted(lexicon.hashes, keys[maybe]), lexicon.hashes.size - 1)
    valence = np.zeros(keys.size, dtype=np.float64)
    valence[maybe] = np.where(lexicon.hashes[at] == keys[maybe], lexicon.values[at], 0)
    return valence


def _fraction(counts: np.ndarray) -> np.ndarray:
    return counts / (counts + 1.0)


def _lexicon_features(  # noqa: PLR0917 - the featuriser's arrays, passed on
    hashes: np.ndarray,
    negated: np.ndarray,
    token_rows: np.ndarray,
    first: np.ndarray,
    is_negator: np.ndarray,
    elongated: np.ndarray,
    n_texts: int,
    *,
    lexicon: Lexicon | None,
    present: np.ndarray | None,
) -> np.ndarray:
    """Per text, the LEXICON_FEATURES: valence sums (negation flips a token's valence, not an
    emoticon's), then the cue counts."""
    out = np.zeros((n_texts, LEXICON_FEATURES), dtype=np.float64)
    out[:, 5] = _fraction(np.bincount(token_rows[first == 0x21], minlength=n_texts))  # "!"
    out[:, 6] = _fraction(np.bincount(token_rows[first == 0x3F], minlength=n_texts))  # "?"
    out[:, 7] = _fraction(np.bincount(elongated, minlength=n_texts))
    out[:, 8] = _fraction(np.bincount(token_rows[is_negator], minlength=n_texts))
    if lexicon is None or lexicon.hashes.size == 0 or hashes.size == 0:
        return out
    valence = _valences(hashes, lexicon, present)
    valence[negated] *= NEGATED_VALENCE
    same = token_rows[1:] == token_rows[:-1]
    emoticons = _valences(emoticon_hash(hashes[:-1][same], hashes[1:][same]), lexicon, present)
    valence = np.concatenate([valence, emoticons])
    rows = np.concatenate([token_rows, token_rows[1:][same]])
    out[:, 0] = _squash(np.bincount(rows, weights=valence, minlength=n_texts))
    out[:, 1] = _squash(np.bincount(rows, weights=np.maximum(valence, 0), minlength=n_texts))
    out[:, 2] = _squash(np.bincount(rows, weights=np.minimum(valence, 0), minlength=n_texts))
    out[:, 3] = _fraction(np.bincount(rows[valence > 0], minlength=n_texts))
    out[:, 4] = _fraction(np.bincount(rows[valence < 0], minlength=n_texts))
    return out


_NEGATOR_HASHES = np.unique(hash_tokens(NEGATORS))
_BREAK_CODES = np.array([ord(c) for c in CLAUSE_BREAKS], dtype=np.uint32)


def _negated(hashes: np.ndarray, rows: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each token follows a negator within NEGATION_SCOPE tokens of the same clause, and
    whether it is one."""
    is_negator = np.isin(hashes, _NEGATOR_HASHES)
    clause = np.cumsum(np.isin(first, _BREAK_CODES))  # a break token ends a clause
    negated = np.zeros(hashes.size, dtype=bool)
    for k in range(1, NEGATION_SCOPE + 1):
        negated[k:] |= is_negator[:-k] & (rows[k:] == rows[:-k]) & (clause[k:] == clause[:-k])
    return negated, is_negator


def featurise(
    texts: list[str], lexicon: Lexicon | None = None, present: np.ndarray | None = None
) -> BatchFeatures:
    """Bucket indices of every word unigram and bigram and every character 4-gram of the batch,
    and the lexicon features of each text (``present``: ``lexicon.candidates()``, to go faster)."""
    codes, rows = _code_points(texts)
    codes, rows, cls, elongated = _normalise_counting(codes, rows)
    hashes, token_rows, first = _token_hashes(codes, rows, cls)
    negated, is_negator = _negated(hashes, token_rows, first)
    unigrams = np.where(negated, _mix(hashes ^ _SALT_NEG), hashes) ^ _SALT_WORD
    same = token_rows[1:] == token_rows[:-1]
    bigrams = (hashes[:-1][same] * _BIGRAM_MULT + hashes[1:][same]) ^ _SALT_BIGRAM
    word_hashes = _mix(np.concatenate([unigrams, bigrams]))

    # Character n-grams: a linear hash over the n code points, bucketed by multiply-shift
    # (one multiplication a position: there are as many of them as characters).
    n = CHAR_NGRAM
    values = codes.astype(np.uint64)
    rolling = values[: values.size - n + 1] * _CHAR_MULT[0]
    for k in range(1, n):
        rolling += values[k : values.size - n + 1 + k] * _CHAR_MULT[k]
    rolling *= _CHAR_SHIFT_MULT
    char_buckets = np.full(codes.size, N_BUCKETS, dtype=np.int64)
    char_buckets[: rolling.size] = rolling >> _U64(64 - BUCKET_BITS)
    char_buckets[: rolling.size][rows[: rolling.size] != rows[n - 1 :]] = N_BUCKETS
    row_starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    row_lengths = np.diff(np.append(row_starts, codes.size))
    return BatchFeatures(
        n_texts=len(texts),
        word_rows=np.concatenate([token_rows, token_rows[:-1][same]]),
        word_buckets=(word_hashes >> _U64(64 - BUCKET_BITS)).astype(np.int64),
        char_row_starts=row_starts,
        char_buckets=char_buckets,
        char_counts=np.maximum(row_lengths - (n - 1), 0),
        lexicon=_lexicon_features(
            hashes,
            negated,
            token_rows,
            first,
            is_negator,
            elongated,
            len(texts),
            lexicon=lexicon,
            present=present,
        ),
    )
