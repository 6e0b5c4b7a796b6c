"""Seeded percentile bootstrap intervals: of a mean, and of a paired difference between two models.

    from rewardkit.evaluation.bootstrap import mean_interval, paired_difference
    lo, hi = mean_interval([1, 0, 1, 1])
    d = paired_difference({"a": [1], "b": [0]}, {"a": [1], "b": [1]}, metric=mean_of_values)

Paired: the same resampled examples are scored for both models, so the interval is that of the
difference over the same examples (not two independent intervals). Resampling is stratified: each
stratum (a subset, a domain) keeps its size, as a benchmark's composition is fixed by design.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import numpy as np

N_BOOT = 1000
LEVEL = 0.95


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(lo), float(hi)


def mean_interval(values: Sequence[float], *, n_boot: int = N_BOOT, seed: int = 0,
                  level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the mean of `values` (0/1 flags or any numbers), resampling them with
    replacement from random.Random(seed): the rule RewardBench v1 accuracies have always been reported
    with, so stored results recompute to the same intervals."""
    if not values:
        raise ValueError("bootstrap of no values")
    rng, n = random.Random(seed), len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(n_boot))
    return means[int((1 - level) / 2 * n_boot)], means[min(n_boot - 1, int((1 + level) / 2 * n_boot))]


def paired_difference(
    a: Mapping[str, Sequence], b: Mapping[str, Sequence], metric: Callable[[list], float | None], *,
    strata: Mapping[str, str] | None = None, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL,
) -> dict:
    """metric(B) - metric(A) over the units (keys) both have, with a paired bootstrap interval.

    a, b: unit key -> that unit's examples (a list, so a Ties prompt's ref and tied rows move together).
    strata: unit key -> stratum; units are resampled within their stratum. Returns {"n", "a", "b",
    "diff", "ci95", "supported"}: supported = the interval excludes 0.
    """
    keys = sorted(set(a) & set(b))
    if not keys:
        raise ValueError("paired comparison: the two results share no examples")
    by_stratum: dict[str, list[str]] = {}
    for k in keys:
        by_stratum.setdefault((strata or {}).get(k, ""), []).append(k)
    flat = lambda res, ks: [e for k in ks for e in res[k]]  # noqa: E731
    va, vb = metric(flat(a, keys)), metric(flat(b, keys))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        draw = [g[i] for g in by_stratum.values() for i in rng.integers(0, len(g), len(g))]
        ma, mb = metric(flat(a, draw)), metric(flat(b, draw))
        if ma is not None and mb is not None:
            diffs.append(mb - ma)
    if va is None or vb is None or not diffs:
        return {"n": len(keys), "a": va, "b": vb, "diff": None, "ci95": None, "supported": False}
    lo, hi = _percentiles(np.asarray(diffs), level)
    return {"n": len(keys), "a": va, "b": vb, "diff": vb - va, "ci95": [lo, hi], "supported": lo > 0 or hi < 0}
