"""THU-KEG/RM-Bench: id, prompt, chosen[3], rejected[3] (the same correct / incorrect answer in three styles:
concise, detailed plain text, detailed markdown), and the domain.

The domain is the row's `domain` field (chat, code, math, safety-refuse, safety-response; the hub's
total_dataset.json has it), else `?domain=` on the spec, else the file name as the repository ships it
(`code_filtered.json` -> code). A CandidateSet holds chosen[0..2] then rejected[0..2] with num_correct 3.
The pair view (`read`) gives the three same-style pairs, for stats and decontamination.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.io import BadRow
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources.base import ReadContext, Reader, Spec, checked_pair, get_field
from rewardkit.data.sources.sets import get_texts, pairs_from_rows, prompts_of_sets, sets_from_rows

HUB_ID = "THU-KEG/RM-Bench"
DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")
STYLES = ("concise", "detailed_plain", "detailed_markdown")


def _domain(row: dict, file: str, rownum: int, spec: Spec) -> str:
    domain = row.get("domain") or spec.options.get("domain") or Path(file).name.split("_filtered")[0]
    if domain not in DOMAINS:
        raise BadRow(file, rownum, "domain", f"unknown domain {domain!r} (expected one of {DOMAINS}; give the "
                     "row a `domain` field, the spec ?domain=, or keep the repository's file name)")
    return domain


def _set(row: dict, file: str, rownum: int, *, spec: Spec) -> CandidateSet:
    prompt = get_field(row, "prompt", str, file, rownum, nonempty=True)
    rid = str(get_field(row, "id", (int, str), file, rownum))
    chosen = get_texts(row, "chosen", file, rownum, n=3)
    rejected = get_texts(row, "rejected", file, rownum, n=3)
    return CandidateSet(prompt=[{"role": "user", "content": prompt}], responses=[*chosen, *rejected],
                        group=_domain(row, file, rownum, spec), source=HUB_ID, source_id=rid, num_correct=3)


def read_sets(spec: Spec, ctx: ReadContext) -> Iterator[CandidateSet]:
    return sets_from_rows(spec, READER, ctx, partial(_set, spec=spec))


def _style_pairs(s: CandidateSet, split: str, file: str, rownum: int) -> Iterator[PreferencePair]:
    for k, style in enumerate(STYLES):
        yield checked_pair(PreferencePair(
            prompt=s.prompt, chosen=s.responses[k], rejected=s.responses[3 + k], source=HUB_ID,
            source_split=split, source_id=f"{s.source_id}#{style}", meta={"subset": s.group}), file, rownum)


def read(spec: Spec, ctx: ReadContext) -> Iterator[PreferencePair]:
    return pairs_from_rows(spec, READER, ctx, partial(_set, spec=spec), _style_pairs)


def read_prompts(spec: Spec, ctx: ReadContext) -> Iterator[RefPrompt]:
    return prompts_of_sets(read_sets(spec, ctx))


READER = Reader(name="rmbench", hub_id=HUB_ID, read=read, read_prompts=read_prompts,
                default_split="train",
                description="THU-KEG/RM-Bench: 3 styles x (correct, incorrect) sets (evaluate); pairs = same style")
