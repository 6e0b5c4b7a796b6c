"""Scoring candidate sets (RewardBench 2, RM-Bench, best-of-N) through the one batched scorer (I/O edge).

A set of n responses is n conversations; every conversation of every set goes through
`RewardModel.score` together, so the length-sorted token-budget batching sees them all at once. Under
torchrun each process scores its shard of the sets (`map_distributed`) and every rank gets all scores.
"""

from __future__ import annotations

from collections.abc import Sequence

from rewardkit.data.candidates import CandidateSet
from rewardkit.evaluation import bestofn, rewardbench2, rmbench

SECTIONS = ("rewardbench2", "rmbench", "best_of_n")
SUMMARIZERS = {"rewardbench2": rewardbench2.summarize, "rmbench": rmbench.summarize, "best_of_n": bestofn.summarize}


def section_of(reader: str) -> str | None:
    """Which set benchmark a `--data` reader feeds: rewardbench2 / rmbench, else None (a pair dataset)."""
    return reader if reader in ("rewardbench2", "rmbench") else None


def score_sets(rm, sets: Sequence[CandidateSet], *, max_length: int | None, batch_tokens: int,
               pad_to_multiple: int = 1, accelerator=None) -> list[tuple[list[float], int]]:
    """(scores, truncated conversations) per set, in input order."""
    def shard_scores(shard: Sequence[CandidateSet]) -> list[tuple[list[float], int]]:
        convs = [c for s in shard for c in s.conversations()]
        show = None if accelerator is None or accelerator.is_main_process else False
        flat = rm.score(convs, max_length=max_length, batch_tokens=batch_tokens, pad_to_multiple=pad_to_multiple,
                        progress=show)
        cut = rm.truncated_flags
        out, k = [], 0
        for s in shard:
            n = len(s.responses)
            out.append((flat[k:k + n], sum(cut[k:k + n])))
            k += n
        return out

    if accelerator is None:
        return shard_scores(sets)
    from rewardkit.models.scoring import map_distributed

    return map_distributed(sets, shard_scores, accelerator)


def example(section: str, s: CandidateSet, scores: list[float], dataset: str) -> dict:
    """The stored record of one scored set, in the section's public results schema."""
    if section == "rewardbench2":
        return {"id": s.source_id, "subset": s.group, "scores": scores, "num_correct": s.num_correct}
    if section == "rmbench":
        return {"id": s.source_id, "domain": s.group, "score_chosen": scores[:3], "score_rejected": scores[3:]}
    return {"id": s.source_id, "dataset": dataset, "scores": scores, "ratings": s.ratings}
