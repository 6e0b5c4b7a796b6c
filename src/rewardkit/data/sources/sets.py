"""Candidate sets (several responses per prompt) behind the same spec strings as pairs.

    from rewardkit.data.sources.sets import read_sets
    sets, report = read_sets("rewardbench2:data/rewardbench2-mini.jsonl")

Readers that know sets: rewardbench2 and rmbench (their benchmarks' own rows), and for best-of-N the rated
sources helpsteer2 (responses grouped by prompt, rated by helpfulness) and the three Magpie DPO sets
(five responses rated by ArmoRM). The bad-row policy and the read report are the pair readers' own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources.base import (OnBadRow, ReadContext, ReadReport, Spec, checked_pair, iter_source_rows,
                                         parse_spec, split_of)

# reader name -> "module:function" under rewardkit.data.sources yielding CandidateSets for (spec, ctx).
_SET_READERS = {
    "rewardbench2": "rewardbench2:read_sets",
    "rmbench": "rmbench:read_sets",
    "helpsteer2": "rated_sets:read_helpsteer",
    "magpie_pro_llama31": "rated_sets:read_magpie",
    "magpie_pro": "rated_sets:read_magpie",
    "magpie_air": "rated_sets:read_magpie",
}
SetReadFn = Callable[[Spec, ReadContext], Iterator[CandidateSet]]


def set_readers() -> list[str]:
    return sorted(_SET_READERS)


def _set_reader(name: str) -> SetReadFn:
    if name not in _SET_READERS:
        raise ValueError(f"reader {name!r} gives no candidate sets; readers that do: {', '.join(set_readers())}")
    module, _, fn = _SET_READERS[name].partition(":")
    return getattr(importlib.import_module(f"rewardkit.data.sources.{module}"), fn)


def read_sets(spec: str | Spec, *, on_bad_row: OnBadRow = "error",
              quarantine: str | Path | None = None) -> tuple[list[CandidateSet], ReadReport]:
    """All candidate sets of one spec and the read report (its `pairs` field counts sets here)."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    read = _set_reader(spec.reader)
    ctx = ReadContext(str(spec), on_bad_row, quarantine)
    try:
        sets = []
        for s in read(spec, ctx):
            ctx.report.pairs += 1
            sets.append(s)
    finally:
        ctx.close()
    return sets, ctx.report


def get_texts(row: dict, name: str, file: str, rownum: int, *, n: int | None = None) -> list[str]:
    """row[name] as a list of non-blank strings (of length n when given); BadRow otherwise."""
    value = row.get(name)
    if name not in row:
        raise BadRow(file, rownum, name, f"missing field (row has {sorted(row)[:12]})")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadRow(file, rownum, name, f"wrong type (expected a list of strings, got {type(value).__name__})")
    if n is not None and len(value) != n:
        raise BadRow(file, rownum, name, f"expected {n} responses, got {len(value)}")
    for i, t in enumerate(value):
        if not t.strip():
            raise BadRow(file, rownum, name, f"response {i} is empty text")
    return value


def sets_from_rows(spec: Spec, reader, ctx: ReadContext, make) -> Iterator[CandidateSet]:
    """make(row, file, rownum) -> CandidateSet for each row of the spec, bad rows through the policy."""
    for file, rownum, row in iter_source_rows(spec, reader, ctx):
        try:
            yield make(row, file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


def prompts_of_sets(sets: Iterator[CandidateSet]) -> Iterator[RefPrompt]:
    """One reference prompt per set (decontamination): the first user turn, id and subset/domain."""
    for s in sets:
        text = next(m["content"] for m in s.prompt if m["role"] == "user")
        yield RefPrompt(id=s.source_id, subset=s.group, text=text)


def pairs_from_rows(spec: Spec, reader, ctx: ReadContext, make, to_pairs) -> Iterator[PreferencePair]:
    """The pair view: to_pairs(set, split, file, rownum) for each row's set."""
    split = split_of(spec, reader)
    for file, rownum, row in iter_source_rows(spec, reader, ctx):
        try:
            yield from to_pairs(make(row, file, rownum), split, file, rownum)
        except BadRow as e:
            ctx.bad(e, row)


def pairs_of_set(s: CandidateSet, split: str, file: str, rownum: int) -> Iterator[PreferencePair]:
    """Every (correct, incorrect) pair of a set with num_correct: the pair view of a multi-response
    benchmark, for `data stats`, `data convert` and decontamination (which read prompts)."""
    k = s.num_correct or 0
    for i, chosen in enumerate(s.responses[:k]):
        for j, rejected in enumerate(s.responses[k:]):
            yield checked_pair(PreferencePair(
                prompt=s.prompt, chosen=chosen, rejected=rejected, source=s.source, source_split=split,
                source_id=f"{s.source_id}#{i}-{j}", meta={"subset": s.group, "set_id": s.source_id}), file, rownum)
