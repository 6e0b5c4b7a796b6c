"""allenai/reward-bench-2 (split `test`, 1,865 rows): id, prompt, chosen (list), rejected (list), num_correct,
num_incorrect, total_completions, models, subset, additional_metadata.

Each row is one prompt with `num_correct` correct completions (`chosen`) and the rest incorrect
(`rejected`): one correct and three incorrect in Factuality, Precise IF, Math, Safety and Focus; several
correct in Ties, whose ids are `ref:N` / `tied:N` (N pairs a reference prompt with its tied variant).
The official loader (allenai/reward-bench `rewardbench/utils.py:load_bon_dataset_v2`) unrolls chosen then
rejected into `total_completions` rows; a CandidateSet keeps that order. The pair view (`read`) gives
every correct x incorrect pair, for stats and decontamination.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rewardkit.data.candidates import CandidateSet
from rewardkit.data.pairs import PreferencePair, RefPrompt
from rewardkit.data.sources.base import ReadContext, Reader, Row, Source, Spec
from rewardkit.data.sources.sets import get_texts, pairs_from_rows, pairs_of_set, prompts_of_sets, sets_from_rows

HUB_ID = "allenai/reward-bench-2"
TIES_ID = re.compile(r"^(ref|tied):\d+$")
SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
"""The six subsets; the leaderboard's overall is their unweighted mean."""


def set_problem(subset: str, ident: str, num_correct: int, total: int) -> tuple[str, str] | None:
    """(field, what is wrong) when a set cannot be scored by the official rules (evaluation.rewardbench2),
    else None: a known subset (a misspelt one would become a seventh subset), a correct and an incorrect
    completion, one correct outside Ties (only the first is read), Ties ids `ref:N` / `tied:N`."""
    if subset not in SUBSETS:
        return "subset", f"unknown subset {subset!r} (RewardBench 2 has {', '.join(SUBSETS)})"
    if not 1 <= num_correct < total:
        return "num_correct", (f"{num_correct} correct of {total} completions: a set needs a correct and an "
                               "incorrect one")
    if subset != "Ties" and num_correct != 1:
        return "num_correct", f"{num_correct}: {subset} sets have one correct completion (the first is the one scored)"
    if subset == "Ties" and not TIES_ID.match(ident):
        return "id", f"Ties ids are 'ref:N' or 'tied:N', got {ident!r}"
    return None


def _set(row: Row) -> CandidateSet:
    prompt = row.field("prompt", str, nonempty=True)
    chosen = get_texts(row, "chosen")
    rejected = get_texts(row, "rejected")
    subset = row.field("subset", str, nonempty=True)
    rid = str(row.field("id", (int, str)))
    num_correct = row.field("num_correct", int)
    total = row.field("total_completions", int)
    if num_correct != len(chosen) or num_correct < 1:
        raise row.bad("num_correct", f"{num_correct} does not match {len(chosen)} chosen completions")
    if total != len(chosen) + len(rejected):
        raise row.bad("total_completions", f"{total} != {len(chosen)} chosen + {len(rejected)} rejected")
    if not rejected:
        raise row.bad("rejected", "no incorrect completions")
    if problem := set_problem(subset, rid, num_correct, total):
        raise row.bad(*problem)
    return CandidateSet(prompt=[{"role": "user", "content": prompt}], responses=[*chosen, *rejected], group=subset,
                        source=HUB_ID, source_id=rid, num_correct=num_correct)


def read_sets(src: Source, ctx: ReadContext) -> Iterator[CandidateSet]:
    return sets_from_rows(src, ctx, _set)


def read(src: Source, ctx: ReadContext) -> Iterator[PreferencePair]:
    return pairs_from_rows(src, ctx, _set, pairs_of_set)


def read_prompts(spec: Spec, ctx: ReadContext) -> Iterator[RefPrompt]:
    return prompts_of_sets(read_sets(Source.of(spec, READER), ctx))


READER = Reader(name="rewardbench2", hub_id=HUB_ID, read=read, read_prompts=read_prompts,
                default_split="test",
                description="allenai/reward-bench-2: best-of-4 / Ties sets (evaluate); pairs = correct x incorrect")
