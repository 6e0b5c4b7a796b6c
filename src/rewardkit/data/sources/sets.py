"""Candidate sets (several responses per prompt) behind the same spec strings as pairs.

    from rewardkit.data.sources.sets import read_sets
    sets, report = read_sets("rewardbench2:data/rewardbench2-mini.jsonl")

Readers that know sets: rewardbench2 and rmbench (their benchmarks' own rows), and for best-of-N the rated
sources helpsteer2 (responses grouped by prompt, rated by helpfulness) and the three Magpie DPO sets
(five responses rated by ArmoRM). The bad-row policy and the read report are the pair readers' own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources import open_source, registered
from rewardkit.data.sources.base import OnBadRow, ReadContext, ReadReport, Source, Spec
from rewardkit.data.sources.files import source_rows
from rewardkit.data.sources.rows import Dropped, Row
from rewardkit.data.sources.runner import checked_pair, counted, each_row
from rewardkit.options import DEFAULT_ON_BAD_ROW

# reader name -> "module:function" under rewardkit.data.sources yielding CandidateSets for (source, ctx).
_SET_READERS = {
    "rewardbench2": "rewardbench2:read_sets",
    "rmbench": "rmbench:read_sets",
    "helpsteer2": "rated_sets:read_helpsteer",
    "magpie_pro_llama31": "rated_sets:read_magpie",
    "magpie_pro": "rated_sets:read_magpie",
    "magpie_air": "rated_sets:read_magpie",
}


def read_sets(spec: str | Spec, *, on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW,
              quarantine: str | Path | None = None) -> tuple[list[CandidateSet], ReadReport]:
    """All candidate sets of one spec and the read report (its `pairs` field counts sets here)."""
    src = open_source(spec)
    read = registered(_SET_READERS, src.spec.reader, f"reader {src.spec.reader!r} gives no candidate sets; "
                      "readers that do")
    ctx = ReadContext(str(src.spec), on_bad_row, quarantine)
    return list(counted(read, src, ctx)), ctx.report


def get_texts(row: Row, name: str, *, n: int | None = None) -> list[str]:
    """row[name] as a list of non-blank strings (of length n when given); BadRow otherwise."""
    value = row.field(name, list)
    if not all(isinstance(t, str) for t in value):
        raise row.bad(name, "wrong type (expected a list of strings)")
    if n is not None and len(value) != n:
        raise row.bad(name, f"expected {n} responses, got {len(value)}")
    for i, t in enumerate(value):
        if not t.strip():
            raise row.bad(name, f"response {i} is empty text")
    return value


def sets_from_rows(src: Source, ctx: ReadContext, make: Callable[[Row], CandidateSet]) -> Iterator[CandidateSet]:
    """make(row) -> CandidateSet for each row of the source, through the runner's bad-row policy."""
    return each_row(source_rows(src, ctx), ctx, make)


def prompts_of_sets(sets: Iterable[CandidateSet]) -> Iterator[RefPrompt]:
    """One reference prompt per set (decontamination): the first user turn, id and subset/domain."""
    for s in sets:
        text = next(m["content"] for m in s.prompt if m["role"] == "user")
        yield RefPrompt(id=s.source_id, subset=s.group, text=text)


PairsOf = Callable[[CandidateSet, str], Iterable[PreferencePair]]


def pairs_from_rows(src: Source, ctx: ReadContext, make: Callable[[Row], CandidateSet],
                    to_pairs: PairsOf) -> Iterator[PreferencePair]:
    """The pair view: to_pairs(set, split) for each row's set, each pair through `checked_pair` (a pair
    the conversation rule refuses is dropped and counted, the row's other pairs kept)."""
    for row, s in each_row(source_rows(src, ctx), ctx, lambda row: (row, make(row))):
        for pair in to_pairs(s, src.split):
            try:
                yield checked_pair(pair)
            except Dropped as d:
                ctx.drop(d.reason, row=row, detail=d.detail, field=d.field)


def pairs_of_set(s: CandidateSet, split: str) -> Iterator[PreferencePair]:
    """Every (correct, incorrect) pair of a set with num_correct: the pair view of a multi-response
    benchmark, for `data stats`, `data convert` and decontamination (which read prompts)."""
    k = s.num_correct or 0
    for i, chosen in enumerate(s.responses[:k]):
        for j, rejected in enumerate(s.responses[k:]):
            yield PreferencePair(prompt=s.prompt, chosen=chosen, rejected=rejected, source=s.source, source_split=split,
                                 source_id=f"{s.source_id}#{i}-{j}", meta={"subset": s.group, "set_id": s.source_id})
