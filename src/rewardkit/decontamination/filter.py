"""Pairs against the index: which texts of a pair are checked, why a pair is removed, Table 4's counts.

A pair's texts are checked one by one (never joined), so an n-gram cannot span two turns, or a turn
and a response: the maintainers' script checks one prompt string per row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal, get_args

from rewardkit.decontamination.index import MAX_NGRAMS_LISTED, NgramIndex
from rewardkit.data.pairs import PreferencePair

Fields = Literal["first_user", "all_user", "all"]
FIELDS: tuple[str, ...] = get_args(Fields)
DEFAULT_FIELDS: Fields = "first_user"
"""The maintainers' rule checks the benchmark's `prompt` column: a pair's first user turn."""


def pair_texts(pair: PreferencePair, fields: Fields = DEFAULT_FIELDS) -> list[tuple[str, str]]:
    """(label, text) of what is checked. first_user: the first user turn (the maintainers' `prompt`
    column); all_user: every user turn; all: every prompt turn of any role, plus both responses."""
    if fields == "first_user":
        return [("user_turn_1", pair.first_user_turn)]
    if fields not in FIELDS:
        raise ValueError(f"fields must be one of {FIELDS}, got {fields!r}")
    out, count = [], {"user": 0, "assistant": 0, "system": 0}
    for m in pair.prompt:
        if fields == "all" or m["role"] == "user":
            count[m["role"]] += 1
            out.append((f"{m['role']}_turn_{count[m['role']]}", m["content"]))
    if fields == "all":
        out += [("chosen", pair.chosen), ("rejected", pair.rejected)]
    return out


@dataclass
class PairMatch:
    """Why one pair is contaminated: the texts that matched, the shared n-grams, the benchmark rows."""

    fields: list[str]
    ngrams: list[str]
    """The first shared n-grams (text order, checked texts in order; at most MAX_NGRAMS_LISTED)."""
    n_ngrams: int
    """Distinct shared n-grams, summed over the checked texts."""
    rows: set[int]
    """Index rows (positions in NgramIndex.refs) sharing an n-gram with the pair."""

    def record(self, pair: PreferencePair, index: NgramIndex) -> dict[str, Any]:
        """The removed.jsonl row: pair id and provenance, matched n-grams, benchmark ids and subsets."""
        rows = sorted(self.rows)
        return {
            "pair_id": pair.id,
            "source": pair.source,
            "source_id": pair.source_id,
            "fields": self.fields,
            "ngram": self.ngrams[0],
            "n_matched_ngrams": self.n_ngrams,
            "ngrams": self.ngrams,
            "benchmark_ids": [ref_key(index, r) for r in rows],
            "subsets": sorted({index.refs[r].subset for r in rows}),
            "prompt": pair.first_user_turn,
        }


def ref_key(index: NgramIndex, row: int) -> str:
    """A benchmark row's id, qualified by its benchmark name when the index holds several benchmarks."""
    name = index.benchmarks[row]
    return f"{name}:{index.refs[row].id}" if name else index.refs[row].id


class Decontaminate:
    """A curation filter: keep(pair) -> (False, reason) when a checked text shares an n-gram with the
    benchmark. `check` does the same for a batch, which is much faster per pair (one numpy tokenizing
    pass and one vectorized lookup per batch); `scan` streams any iterator through it in chunks."""

    def __init__(self, index: NgramIndex, fields: Fields = DEFAULT_FIELDS):
        if fields not in FIELDS:
            raise ValueError(f"fields must be one of {FIELDS}, got {fields!r}")
        self.index, self.fields = index, fields
        self.name = f"decontaminate({index.n}-gram)"

    def check(self, pairs: list[PreferencePair]) -> list[PairMatch | None]:
        """One PairMatch (or None when clean) per pair, in order."""
        owners, labels, texts = [], [], []
        for i, pair in enumerate(pairs):
            for label, text in pair_texts(pair, self.fields):
                owners.append(i)
                labels.append(label)
                texts.append(text)
        found: list[PairMatch | None] = [None] * len(pairs)
        for t, m in sorted(self.index.match(texts).items()):
            pm = found[owners[t]] = found[owners[t]] or PairMatch([], [], 0, set())
            pm.fields.append(labels[t])
            pm.ngrams += [g for g in m.ngrams if g not in pm.ngrams][: MAX_NGRAMS_LISTED - len(pm.ngrams)]
            pm.n_ngrams += m.n_ngrams
            pm.rows |= m.rows
        return found

    def keep(self, pair: PreferencePair) -> tuple[bool, str]:
        match = self.check([pair])[0]
        return (True, "") if match is None else (False, self.reason(match))

    def reason(self, match: PairMatch) -> str:
        """Grouped by benchmark subset so a curation report counts removals per subset; the exact
        n-grams and ids are in `PairMatch.record`."""
        subsets = sorted({self.index.refs[r].subset for r in match.rows})
        return f"shares a {self.index.n}-gram with benchmark {', '.join(subsets)}"

    def scan(self, pairs: Iterable[PreferencePair], chunk: int = 4096
             ) -> Iterator[tuple[PreferencePair, PairMatch | None]]:
        it = iter(pairs)
        while batch := list(islice(it, chunk)):
            yield from zip(batch, self.check(batch))


class DecontaminationStep:
    """Decontamination as a step (a curation Select that also streams any iterable): decides every pair,
    counts Table 4 and hands each removal's record (`PairMatch.record`) to `removed`. The pipeline stage
    is this step run over spec strings (rewardkit.decontamination.run), so both give one output set."""

    def __init__(self, index: NgramIndex, fields: Fields, removed: Callable[[dict[str, Any]], None],
                 chunk: int = 4096):
        self.filter, self.removed, self.chunk = Decontaminate(index, fields), removed, chunk
        self.table = Table4(index)
        self.name = self.filter.name
        self.result: dict[str, Any] | None = None
        """table4.json's content, once the run that opened the step has written it."""

    def decide(self, pairs: Iterable[PreferencePair]) -> Iterator[tuple[PreferencePair, bool, str | None]]:
        for pair, match in self.filter.scan(pairs, self.chunk):
            self.table.add(pair, match)
            if match is not None:
                self.removed(match.record(pair, self.filter.index))
            yield pair, match is None, None if match is None else self.filter.reason(match)


@dataclass
class _SourceCounts:
    pairs: int = 0
    contaminated_pairs: int = 0
    prompts: set[bytes] = field(default_factory=set)
    contaminated_prompts: set[bytes] = field(default_factory=set)
    benchmark_rows: set[int] = field(default_factory=set)


class Table4:
    """The paper's Table 4 per source and in total: benchmark prompts with an n-gram match and
    contaminated training prompts (distinct prompts, as the paper counts), plus contaminated pairs.
    A prompt is the pair's whole prompt (all turns); the gist counts training rows, i.e. our pairs."""

    def __init__(self, index: NgramIndex):
        self.index = index
        self.sources: dict[str, _SourceCounts] = {}

    def add(self, pair: PreferencePair, match: PairMatch | None) -> None:
        c = self.sources.setdefault(pair.source, _SourceCounts())
        key = _prompt_key(pair)
        c.pairs += 1
        c.prompts.add(key)
        if match is not None:
            c.contaminated_pairs += 1
            c.contaminated_prompts.add(key)
            c.benchmark_rows |= match.rows

    def rows(self) -> list[dict[str, Any]]:
        total = _SourceCounts()
        out = []
        for name in sorted(self.sources):
            c = self.sources[name]
            out.append(self._row(name, c))
            total.pairs += c.pairs
            total.contaminated_pairs += c.contaminated_pairs
            total.prompts |= c.prompts
            total.contaminated_prompts |= c.contaminated_prompts
            total.benchmark_rows |= c.benchmark_rows
        out.append(self._row("total", total))
        return out

    def _row(self, name: str, c: _SourceCounts) -> dict[str, Any]:
        return {
            "source": name,
            "benchmark_prompts_matched": len(c.benchmark_rows),
            "contaminated_prompts": len(c.contaminated_prompts),
            "contaminated_pairs": c.contaminated_pairs,
            "prompts": len(c.prompts),
            "pairs": c.pairs,
        }

    def matched_per_subset(self) -> dict[str, dict[str, int]]:
        """Per benchmark subset: how many of its prompts any training pair matched, out of how many."""
        rows = set().union(*(c.benchmark_rows for c in self.sources.values()))
        out: dict[str, dict[str, int]] = {}
        for r, ref in enumerate(self.index.refs):
            key = f"{self.index.benchmarks[r]}/{ref.subset}" if self.index.benchmarks[r] else ref.subset
            d = out.setdefault(key, {"matched": 0, "prompts": 0})
            d["prompts"] += 1
            d["matched"] += r in rows
        return dict(sorted(out.items()))


def _prompt_key(pair: PreferencePair) -> bytes:
    payload = json.dumps([[m["role"], m["content"]] for m in pair.prompt], ensure_ascii=False)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).digest()
