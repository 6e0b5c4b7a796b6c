"""THU-KEG/RM-Bench: id, prompt, chosen[3], rejected[3] (the same correct / incorrect answer in three styles:
concise, detailed plain text, detailed markdown), and the domain.

The domain is the row's `domain` field (chat, code, math, safety-refuse, safety-response; the hub's
total_dataset.json has it), else `?domain=` on the spec, else the file name as the repository ships it
(`code_filtered.json` -> code). A CandidateSet holds chosen[0..2] then rejected[0..2] with num_correct 3.
The pair view (`read`) gives the three same-style pairs, for stats and decontamination.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source, Spec
from rewardkit.data.sources.options import SourceOptions
from rewardkit.data.sources.sets import get_texts, pairs_from_rows, prompts_of_sets, sets_from_rows

HUB_ID = "THU-KEG/RM-Bench"
DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")
STYLES = ("concise", "detailed_plain", "detailed_markdown")


class Options(SourceOptions):
    domain: Literal["chat", "code", "math", "safety-refuse", "safety-response"] | None = None
    """The domain of rows without a `domain` field (default: from the repository's file name)."""


def _domain(row: Row, src: Source) -> str:
    domain = row.get("domain") or src.options.domain or Path(row.file).name.split("_filtered")[0]
    if domain not in DOMAINS:
        raise row.bad("domain", f"unknown domain {domain!r} (expected one of {DOMAINS}; give the row a `domain` "
                      "field, the spec ?domain=, or keep the repository's file name)")
    return domain


def _maker(src: Source):
    def make(row: Row) -> CandidateSet:
        prompt = row.field("prompt", str, nonempty=True)
        rid = str(row.field("id", (int, str)))
        chosen = get_texts(row, "chosen", n=3)
        rejected = get_texts(row, "rejected", n=3)
        return CandidateSet(prompt=[{"role": "user", "content": prompt}], responses=[*chosen, *rejected],
                            group=_domain(row, src), source=HUB_ID, source_id=rid, num_correct=3)

    return make


def read_sets(src: Source, ctx: ReadContext) -> Iterator[CandidateSet]:
    return sets_from_rows(src, ctx, _maker(src))


def _style_pairs(s: CandidateSet, split: str) -> Iterator[PreferencePair]:
    for k, style in enumerate(STYLES):
        yield PreferencePair(prompt=s.prompt, chosen=s.responses[k], rejected=s.responses[3 + k], source=HUB_ID,
                             source_split=split, source_id=f"{s.source_id}#{style}", meta={"subset": s.group})


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    return pairs_from_rows(src, ctx, _maker(src), _style_pairs)


def read_prompts(spec: Spec, ctx: ReadContext) -> Iterator[RefPrompt]:
    return prompts_of_sets(read_sets(Source.of(spec, READER), ctx))


READER = Reader(name="rmbench", hub_id=HUB_ID, read=read, read_prompts=read_prompts, options=Options,
                default_split="train",
                description="THU-KEG/RM-Bench: 3 styles x (correct, incorrect) sets (evaluate); pairs = same style")
