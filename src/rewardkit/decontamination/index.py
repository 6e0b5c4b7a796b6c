"""The RewardBench maintainers' n-gram rule, exactly, as a fast index (paper section 4.3).

The maintainers' script (gist natolambert/1aed306000c13e0e8c5bc17c1a5dd300, cited by the paper for
Table 4) fits ``CountVectorizer(ngram_range=(7, 13))`` with every other argument at its default over
the benchmark prompts plus the training prompts, and flags training row j when
``(X_bench @ X_train.T)[:, j] > 0``: the two texts share at least one word n-gram with 7 <= n <= 13.
Every shared 8..13-gram contains a shared 7-gram, so the rule is "shares one word 7-gram", and fitting
the vocabulary over both sides changes nothing (a shared n-gram is in it by construction).

CountVectorizer's defaults, mirrored here step by step:
  * preprocessing: ``text.lower()`` and nothing else (strip_accents=None, so "café" and "cafe" differ);
  * tokens: ``re.findall(r"(?u)\\b\\w\\w+\\b", text)``, i.e. every maximal run of word characters
    (``str.isalnum()`` or "_", Python's definition of \\w) at least two long: punctuation and
    one-character words vanish and n-grams run straight across punctuation, sentence ends, newlines;
  * n-grams: the tokens joined by one space; a text with fewer than n tokens has none and can never match.

Speed (the regex alone is the bottleneck of a Python implementation): a batch of lowered texts is
scanned as one numpy code-point array; word runs come from a per-code-point lookup table, each token
gets a 64-bit hash, and a training token whose hash is not in the benchmark vocabulary breaks windows
(it cannot be part of a shared n-gram). Each remaining window of n tokens gets a 64-bit hash, is looked
up in the sorted hashes of the benchmark windows, and every hit is confirmed first on the n token
hashes and then on the real n-gram text. A hash collision therefore never removes a pair; and a true
match always has equal hashes, so none is missed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rewardkit.data.pairs import RefPrompt

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # sklearn's default token_pattern
DEFAULT_N = 7
BATCH_CHARS = 4_000_000  # code points scanned at once (~200 MB of temporary arrays)
_B = np.uint64(0x100000001B3)  # odd multiplier of the per-token polynomial over code points
_M = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the per-window polynomial over token hashes


def tokenize(text: str) -> list[str]:
    """CountVectorizer's default analyzer up to the n-gram step: lowercase, then the token pattern.
    The reference definition; `scan` computes the same tokens for many texts at once."""
    return TOKEN_PATTERN.findall(text.lower())


def ngrams(text: str, n: int = DEFAULT_N) -> list[str]:
    """The word n-grams of `text` as CountVectorizer names its features ("w1 w2 ... wn"), in text order."""
    toks = tokenize(text)
    return [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]


@functools.cache
def word_table() -> np.ndarray:
    """[0x110000] bool: is the code point a regex \\w character (str.isalnum() or "_"; surrogates no)."""
    table = np.zeros(0x110000, dtype=bool)
    for lo, hi in ((0, 0xD800), (0xE000, 0x110000)):
        chars = "".join(map(chr, range(lo, hi)))
        table[lo:hi] = np.fromiter((c.isalnum() for c in chars), dtype=bool, count=hi - lo)
    table[ord("_")] = True
    return table


@dataclass
class Tokens:
    """The tokens of a batch of texts: text = the lowered texts joined by "\\n"; per token [T]: its
    code-point span starts/ends in `text`, its document `doc`, and its 64-bit hash."""

    text: str
    starts: np.ndarray
    ends: np.ndarray
    doc: np.ndarray
    hashes: np.ndarray

    def ngram(self, first: int, n: int) -> str:
        return " ".join(self.text[s:e] for s, e in zip(self.starts[first : first + n].tolist(),
                                                       self.ends[first : first + n].tolist()))


def scan(texts: Sequence[str]) -> Tokens:
    """Tokenize many texts at once, exactly as `tokenize` does each (tests check this on real data).
    Each text is lowered on its own: str.lower() is context-sensitive (Greek final sigma)."""
    low = [t.lower() for t in texts]
    text = "\n".join(low)  # "\n" is not \w, so no token spans two texts
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    isw = word_table()[cp]
    edge = np.diff(isw.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    run_starts, run_ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    # Token hash: sum of c_k * B**(k - run start) over the run, then a length mix and a finaliser.
    run_of = np.cumsum(edge[:-1] == 1) - 1  # index of the word run each code point is in (or follows)
    pos = np.where(isw, np.arange(len(cp)) - run_starts[np.maximum(run_of, 0)], 0) if len(run_starts) else run_of
    powers = np.ones(int(pos.max(initial=0)) + 1, dtype=np.uint64)  # B**k, wrapping mod 2**64
    powers[1:] = np.cumprod(np.full(len(powers) - 1, _B, dtype=np.uint64))
    vals = np.where(isw, cp.astype(np.uint64) * powers[pos], np.uint64(0))
    sums = np.add.reduceat(vals, run_starts) if len(run_starts) else np.zeros(0, np.uint64)
    keep = run_ends - run_starts >= 2
    starts, ends, sums = run_starts[keep], run_ends[keep], sums[keep]
    doc_ends = np.cumsum(np.fromiter(map(len, low), dtype=np.int64, count=len(low)) + 1)  # one past each "\n"
    doc = np.searchsorted(doc_ends, starts, side="right")
    return Tokens(text, starts, ends, doc, _mix(sums ^ ((ends - starts).astype(np.uint64) * _M)))


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads structured polynomial sums over all 64 bits."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def window_hashes(tokens: Tokens, n: int, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first token index, hash) of every window of n consecutive usable tokens of one document."""
    t = len(tokens.hashes)
    if t < n:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    bad = np.concatenate(([0], np.cumsum(~usable)))
    first = np.flatnonzero((bad[n:] == bad[:-n]) & (tokens.doc[n - 1 :] == tokens.doc[: t - n + 1]))
    h = tokens.hashes[first]
    for k in range(1, n):  # h = t0*M^(n-1) + t1*M^(n-2) + ... + t(n-1), wrapping mod 2**64
        h = h * _M + tokens.hashes[first + k]
    return first, h


MAX_NGRAMS_LISTED = 10  # a verbatim copy shares hundreds of n-grams; the first ones explain it


@dataclass
class TextMatch:
    """What one text shares with the benchmark."""

    ngrams: list[str]
    """The first shared n-grams, distinct, in text order (at most MAX_NGRAMS_LISTED)."""
    n_ngrams: int
    """How many distinct n-grams the text shares."""
    rows: set[int] = field(default_factory=set)
    """The index rows (positions in `NgramIndex.refs`) sharing at least one n-gram with the text."""


class NgramIndex:
    """The benchmark side: every word n-gram of every reference prompt, hashed and sorted.

    Arrays (W = number of benchmark windows of n tokens): hashes [W] uint64 sorted, first [W] the
    window's first token in `tokens`, rows [W] its position in `refs`; vocab [V] sorted token hashes.
    """

    def __init__(self, refs: list[RefPrompt], benchmarks: list[str], n: int = DEFAULT_N):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n, self.refs, self.benchmarks = n, refs, benchmarks  # benchmark name per ref
        self.tokens = scan([r.text for r in refs])
        self.vocab = np.unique(self.tokens.hashes)
        first, hashes = window_hashes(self.tokens, n, np.ones(len(self.tokens.hashes), dtype=bool))
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.first = hashes[order], first[order]
        self.rows = self.tokens.doc[self.first]
        self.n_with_ngrams = len(np.unique(self.rows))

    def __len__(self) -> int:
        return len(self.refs)

    def match(self, texts: Sequence[str]) -> dict[int, TextMatch]:
        """{position in `texts`: TextMatch} for the texts that share an n-gram with the benchmark.
        Scanned in slices of about BATCH_CHARS code points: scan needs ~50 bytes per code point."""
        out: dict[int, TextMatch] = {}
        if not len(self.hashes):
            return out
        lengths = np.cumsum([len(t) + 1 for t in texts])
        lo = 0
        while lo < len(texts):
            hi = max(lo + 1, int(np.searchsorted(lengths, lengths[lo] - len(texts[lo]) - 1 + BATCH_CHARS, "right")))
            out.update((lo + doc, m) for doc, m in self._match_batch(texts[lo:hi]).items())
            lo = hi
        return out

    def _match_batch(self, texts: Sequence[str]) -> dict[int, TextMatch]:
        toks = scan(texts)
        at = np.minimum(np.searchsorted(self.vocab, toks.hashes), len(self.vocab) - 1)
        first, h = window_hashes(toks, self.n, self.vocab[at] == toks.hashes)
        lo = np.searchsorted(self.hashes, h, "left")
        hi = np.searchsorted(self.hashes, h, "right")
        hit = hi > lo
        if not hit.any():
            return {}
        # Expand each hit to every benchmark window with that hash; keep those whose n token hashes agree.
        counts = (hi - lo)[hit]
        train = np.repeat(first[hit], counts)
        window = np.repeat(h[hit], counts)
        entry = np.repeat(lo[hit], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        same = np.ones(len(entry), dtype=bool)
        for k in range(self.n):
            same &= toks.hashes[train + k] == self.tokens.hashes[self.first[entry] + k]
        train, window, entry = train[same], window[same], entry[same]
        exact = self._same_strings(toks, train, self.first[entry])
        return self._group(toks, train[exact], window[exact], self.rows[entry[exact]])

    def _same_strings(self, toks: Tokens, train_first: np.ndarray, bench_first: np.ndarray) -> np.ndarray:
        """[C] bool: candidate windows whose n tokens are the same strings as the benchmark window's.
        Each distinct (training token, benchmark token) alignment is compared once, as text."""
        k = np.arange(self.n)
        a = (train_first[:, None] + k).ravel()
        b = (bench_first[:, None] + k).ravel()
        pairs, inverse = np.unique(a * len(self.tokens.hashes) + b, return_inverse=True)
        ta, tb = np.divmod(pairs, len(self.tokens.hashes))
        ts, te, bs, be = (x.tolist() for x in (toks.starts[ta], toks.ends[ta], self.tokens.starts[tb], self.tokens.ends[tb]))
        ok = np.fromiter((toks.text[s0:e0] == self.tokens.text[s1:e1] for s0, e0, s1, e1 in zip(ts, te, bs, be)),
                         dtype=bool, count=len(pairs))
        return ok[inverse].reshape(-1, self.n).all(axis=1)

    def _group(self, toks: Tokens, first: np.ndarray, window: np.ndarray, rows: np.ndarray) -> dict[int, TextMatch]:
        """Confirmed windows -> one TextMatch per text: its rows, and its distinct n-grams in text order
        (a confirmed n-gram is identified by its window hash; only the first few are turned into text)."""
        out: dict[int, TextMatch] = {}
        order = np.argsort(first, kind="stable")  # token order = text order, texts in input order
        first, window, rows = first[order], window[order], rows[order]
        doc = toks.doc[first]
        bounds = np.flatnonzero(np.diff(doc)) + 1
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(doc)]):
            _, at = np.unique(window[lo:hi], return_index=True)
            at = np.sort(at) + lo
            grams = [toks.ngram(int(first[i]), self.n) for i in at[:MAX_NGRAMS_LISTED]]
            out[int(doc[lo])] = TextMatch(grams, len(at), set(rows[lo:hi].tolist()))
        return out


def build_index(ref_prompts: Iterable[RefPrompt] | Mapping[str, Iterable[RefPrompt]], n: int = DEFAULT_N,
                ) -> NgramIndex:
    """Index benchmark prompts. Pass {benchmark name: prompts} to index several benchmarks at once (their
    ids may overlap; each row keeps its benchmark name); a plain iterable is one benchmark named ""."""
    groups = ref_prompts if isinstance(ref_prompts, Mapping) else {"": ref_prompts}
    refs: list[RefPrompt] = []
    names: list[str] = []
    for name, prompts in groups.items():
        for ref in prompts:
            refs.append(ref)
            names.append(name)
    return NgramIndex(refs, names, n)
