"""Best-of-N on sets of rated responses: does the reward model pick the best-rated one, and does it rank
the responses as the ratings do? (pure functions)

    from rewardkit.evaluation.bestofn import summarize
    summary = summarize(examples)   # examples: {"id", "dataset", "scores": [n], "ratings": [n]}

- top-1: a prompt scores |M & B| / |M|, where M are the responses holding the model's maximum score and B
  those holding the best rating: the chance that the model's pick, ties broken uniformly at random, is a
  best-rated response. `chance` is the same number for a model that scores all responses equally
  (|B| / n per prompt), the floor to beat.
- rank correlation: Spearman's rho between scores and ratings per prompt (average ranks for ties),
  averaged over prompts; a prompt whose ratings or scores are all equal has none and is counted in
  `undefined` rather than averaged.
Each mean comes with a seeded bootstrap 95% interval over prompts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from rewardkit.evaluation.bootstrap import N_BOOT, mean_interval


def top1(scores: Sequence[float], ratings: Sequence[float]) -> float:
    top_s, top_r = max(scores), max(ratings)
    picked = [i for i, s in enumerate(scores) if s == top_s]
    return sum(ratings[i] == top_r for i in picked) / len(picked)


def chance_top1(ratings: Sequence[float]) -> float:
    return sum(r == max(ratings) for r in ratings) / len(ratings)


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their positions."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation of the average ranks; None when either side is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / (sxx * syy) ** 0.5


def dataset_summary(examples: Sequence[Mapping], *, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    hits = [top1(e["scores"], e["ratings"]) for e in examples]
    rhos = [r for r in (spearman(e["scores"], e["ratings"]) for e in examples) if r is not None]
    out = {"n": len(examples), "top1": sum(hits) / len(hits),
           "top1_ci95": list(mean_interval(hits, n_boot=n_boot, seed=seed)),
           "chance": sum(chance_top1(e["ratings"]) for e in examples) / len(examples),
           "spearman": None, "spearman_ci95": None, "undefined": len(examples) - len(rhos)}
    if rhos:
        out.update(spearman=sum(rhos) / len(rhos), spearman_ci95=list(mean_interval(rhos, n_boot=n_boot, seed=seed)))
    return out


def summarize(examples: list[Mapping], *, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """{"datasets": {name: {"n", "top1", "top1_ci95", "chance", "spearman", "spearman_ci95", "undefined"}}}."""
    if not examples:
        raise ValueError("best-of-N summary of no examples")
    groups: dict[str, list[Mapping]] = defaultdict(list)
    for e in examples:
        groups[e["dataset"]].append(e)
    return {"datasets": {name: dataset_summary(rows, n_boot=n_boot, seed=seed) for name, rows in groups.items()}}
