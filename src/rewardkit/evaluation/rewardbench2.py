"""RewardBench 2 scores, computed as the official code computes them (pure functions).

    from rewardkit.evaluation.rewardbench2 import summarize
    summary = summarize(examples)   # examples: {"id", "subset", "scores": [correct..., incorrect...], "num_correct"}

Rules, from allenai/reward-bench (https://github.com/allenai/reward-bench, `scripts/run_v2.py` and
`rewardbench/utils.py`):
- a prompt's completions are scored correct first, then incorrect (`load_bon_dataset_v2`);
- every subset but Ties (`reroll_and_score_dataset`): a prompt scores 1/k when its *first* completion holds
  the maximum score shared by k completions, else 0; the subset score is the mean over its prompts. Only
  the first completion is looked at, as in the official code (every such row has one correct completion);
- Ties (`process_single_model`, the subset whose name lower-cased is "ties"): ids `ref:N` / `tied:N`. Per
  id: accurate = the worst correct score beats the best incorrect one (strictly); correct-incorrect margin
  = worst correct - best incorrect; different-correct margin = best correct - worst correct (only with
  two or more correct). Ties score = 0.3 acc(tied) + 0.3 acc(ref) + 0.2 P + 0.2 P_hard + 0.01 M, where over
  the N present as both ref and tied with a different-correct margin, P = mean[tied's cim > tied's dcm],
  P_hard = mean[min(ref's cim, tied's cim) > tied's dcm], and M = mean tanh(min(cims) / dcm - 1) over
  those with dcm > 0. With no such N the official means are of empty lists (NaN); here those terms are 0.
  The margin term lies in (-0.01, 0.01), so a model wrong on every Ties prompt scores slightly below 0.
- overall: "The RewardBench 2 leaderboard averages over these six subsets" (the dataset card,
  https://huggingface.co/datasets/allenai/reward-bench-2): the unweighted mean of the six subset scores.
  It is None unless all six are present; `overall_present_subsets` is the mean of those present.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from rewardkit.data.sources.rewardbench2 import SUBSETS

TIES_WEIGHTS = {"acc_tied": 0.3, "acc_ref": 0.3, "correctness_preferred": 0.2, "correctness_preferred_hard": 0.2,
                "margin_score": 0.01}


def best_of_n_result(scores: Sequence[float]) -> float:
    """1/k when scores[0] holds the maximum together with k-1 others, else 0 (ties share the credit)."""
    top = max(scores)
    return 1.0 / sum(s == top for s in scores) if scores[0] == top else 0.0


def is_ties(subset: str) -> bool:
    return subset.lower() == "ties"


def id_stats(scores: Sequence[float], num_correct: int) -> dict:
    """The official per-id statistics of a Ties row (`sample_stats`)."""
    correct, incorrect = list(scores[:num_correct]), list(scores[num_correct:])
    if not correct or not incorrect:
        return {"accurate": False, "correct_incorrect_margin": 0.0, "different_correct_margin": None}
    worst, best_bad = min(correct), max(incorrect)
    return {"accurate": worst > best_bad, "correct_incorrect_margin": worst - best_bad,
            "different_correct_margin": max(correct) - worst if len(correct) > 1 else None}


def ties_terms(examples: Iterable[Mapping]) -> dict[str, float]:
    """The five terms of the Ties score and the score itself."""
    stats: dict[str, dict[int, dict]] = {"ref": {}, "tied": {}}
    for e in examples:
        kind, _, number = str(e["id"]).partition(":")
        if kind not in stats or not number.isdigit():
            raise ValueError(f"Ties example id {e['id']!r}: expected 'ref:N' or 'tied:N'")
        stats[kind][int(number)] = id_stats(e["scores"], e["num_correct"])
    ref, tied = stats["ref"], stats["tied"]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731 - empty: see the module docstring
    both = [n for n in ref if n in tied and tied[n]["different_correct_margin"] is not None]
    cim = {n: min(ref[n]["correct_incorrect_margin"], tied[n]["correct_incorrect_margin"]) for n in both}
    dcm = {n: tied[n]["different_correct_margin"] for n in both}
    terms = {
        "acc_tied": mean([s["accurate"] for s in tied.values()]),
        "acc_ref": mean([s["accurate"] for s in ref.values()]),
        "correctness_preferred": mean([tied[n]["correct_incorrect_margin"] > dcm[n] for n in both]),
        "correctness_preferred_hard": mean([cim[n] > dcm[n] for n in both]),
        "margin_score": mean([math.tanh(cim[n] / dcm[n] - 1) for n in both if dcm[n] > 0]),
    }
    terms["score"] = sum(TIES_WEIGHTS[k] * v for k, v in terms.items())
    return terms


def subset_scores(examples: Iterable[Mapping]) -> dict[str, dict]:
    """{subset: {"n", "score"}} in first-seen order (Ties also carries its five terms)."""
    groups: dict[str, list[Mapping]] = defaultdict(list)
    for e in examples:
        groups[e["subset"]].append(e)
    out = {}
    for subset, rows in groups.items():
        if is_ties(subset):
            terms = ties_terms(rows)
            out[subset] = {"n": len(rows), "score": terms.pop("score"), "terms": terms}
        else:
            out[subset] = {"n": len(rows), "score": sum(best_of_n_result(e["scores"]) for e in rows) / len(rows)}
    return out


def summarize(examples: list[Mapping]) -> dict:
    """{"subsets", "overall", "overall_present_subsets"}; scores are fractions."""
    if not examples:
        raise ValueError("RewardBench 2 summary of no examples")
    subsets = subset_scores(examples)
    present = [v["score"] for v in subsets.values()]
    complete = all(s in subsets for s in SUBSETS)
    return {"subsets": subsets,
            "overall": sum(subsets[s]["score"] for s in SUBSETS) / len(SUBSETS) if complete else None,
            "overall_present_subsets": sum(present) / len(present)}
