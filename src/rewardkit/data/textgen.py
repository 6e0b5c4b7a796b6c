"""Seeded, vectorised random text for the fixtures: realistic lengths at hundreds of MB per second.

Words come from a fixed vocabulary (common English function words plus pseudo-words built from
syllables), drawn with numpy and assembled into an Arrow string array by gathering bytes, so no Python
string is built per word. Prompts are drawn word by word (random 7-grams across prompts rarely collide,
which the decontamination benchmark relies on); long responses are joined from a pool of random
passages, which keeps full-scale generation (millions of responses) within seconds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FUNCTION_WORDS = (
    "the of and to a in is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there one all we their can has more if will would about so what when "
    "up out into no them some could other then than its only may first also new these two any like how "
    "our over such where most use each should very well make because through between while however"
).split()
_ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr fr gr pl pr st tr ch sh th".split()
_VOWELS = "a e i o u ai ea io ou".split()
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk"]


def build_vocab(size: int = 6000, seed: int = 1234) -> list[str]:
    """Function words + `size` distinct pseudo-words (1-3 syllables). Fixed seed: the vocabulary never
    changes with the fixture seed, so fixtures with different seeds share a language."""
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    while len(words) < size:
        n = int(rng.choice(3, p=[0.5, 0.4, 0.1])) + 1
        words.add("".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                          + _CODAS[rng.integers(len(_CODAS))] for _ in range(n)))
    return FUNCTION_WORDS + sorted(words - set(FUNCTION_WORDS))


class TextGen:
    """Random texts from one seeded generator. `function_share` is the probability of a function word."""

    def __init__(self, rng: np.random.Generator, function_share: float = 0.45, sentence_words: int = 14):
        vocab = build_vocab()
        nf = len(FUNCTION_WORDS)
        # Each vocabulary entry exists twice: "word " and "word. " (a sentence end), as bytes.
        entries = [w + " " for w in vocab] + [w + ". " for w in vocab]
        table = "".join(entries).encode("ascii")
        lens = np.array([len(e) for e in entries], dtype=np.int64)
        self._table = np.frombuffer(table, dtype=np.uint8)
        self._start = np.concatenate([[0], np.cumsum(lens)[:-1]])
        self._len = lens
        self._nvocab = len(vocab)
        p = np.empty(len(vocab))
        p[:nf] = function_share / nf
        p[nf:] = (1 - function_share) / (len(vocab) - nf)
        self._cdf = np.cumsum(p)
        self._cdf[-1] = 1.0
        self._p_end = 1.0 / sentence_words
        self.rng = rng

    def lengths(self, n: int, mean_words: float, sigma: float = 0.5, minimum: int = 3) -> np.ndarray:
        """Lognormal lengths with the given mean (text lengths are long-tailed)."""
        mu = np.log(mean_words) - sigma**2 / 2
        return np.maximum(self.rng.lognormal(mu, sigma, n).astype(np.int64), minimum)

    def texts(self, lengths: np.ndarray, batch_words: int = 8_000_000) -> pa.Array:
        """One string per entry of `lengths` (in words), as an Arrow string array."""
        out, i = [], 0
        while i < len(lengths):
            j = i + max(1, int(np.searchsorted(np.cumsum(lengths[i:]), batch_words)))
            out.append(self._batch(lengths[i:j]))
            i = j
        return pa.concat_arrays(out) if out else pa.array([], pa.string())

    def _batch(self, lengths: np.ndarray) -> pa.Array:
        total = int(lengths.sum())
        ids = np.searchsorted(self._cdf, self.rng.random(total))
        ends = self.rng.random(total) < self._p_end
        ends[np.cumsum(lengths) - 1] = True  # every text ends with a full stop
        ids = ids + ends * self._nvocab
        wlen = self._len[ids]
        out_start = np.cumsum(wlen) - wlen
        idx = np.arange(int(wlen.sum()), dtype=np.int64) - np.repeat(out_start - self._start[ids], wlen)
        data = self._table[idx]
        # Capitalise the first letter of each text (cosmetic, but cheap).
        word_off = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        first = out_start[word_off]
        data[first] = np.where(data[first] >= 97, data[first] - 32, data[first])
        char_off = np.concatenate([[0], np.cumsum(np.add.reduceat(wlen, word_off))]).astype(np.int64)
        arr = pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(char_off), pa.py_buffer(data))
        return pc.utf8_rtrim_whitespace(arr).cast(pa.string())

    def compose(self, pool: pa.Array, lengths: np.ndarray, pool_mean_words: float) -> pa.Array:
        """Texts of about `lengths` words joined from random passages of `pool` (paragraph breaks)."""
        k = np.maximum(1, np.rint(lengths / pool_mean_words)).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(k)]).astype(np.int32)
        picks = pool.take(pa.array(self.rng.integers(0, len(pool), int(k.sum()))))
        return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), picks), "\n\n")
