"""Best-of-N numbers by hand: top-1 with ties in scores and ratings, Spearman with average ranks."""

from __future__ import annotations

import pytest

from rewardkit.evaluation.bestofn import average_ranks, chance_top1, spearman, summarize, top1


def test_top1_counts_the_share_of_the_models_tied_picks_that_are_best_rated():
    assert top1([0.1, 0.9, 0.5], [2, 4, 3]) == 1.0
    assert top1([1.0, 3.0, 3.0], [2, 4, 3]) == 0.5     # model ties responses 1 and 2; only 1 is best-rated
    assert top1([1.0, 3.0, 3.0], [2, 4, 4]) == 1.0     # both of its picks share the best rating
    assert top1([5.0, 3.0, 3.0], [2, 4, 4]) == 0.0
    assert chance_top1([2, 4, 4, 1]) == 0.5


def test_spearman_by_hand_and_against_scipy():
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    # no ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with d = (0, -1, 1): 1 - 12 / 24
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # ties: ranks (1.5, 1.5, 3) vs (1, 2, 3): covariance 1.5, variances 1.5 and 2 -> 1.5 / sqrt(3)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / 3 ** 0.5)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1, 2, 3], [4, 4, 4]) is None
    stats = pytest.importorskip("scipy.stats")
    x, y = [0.3, -1.2, 0.3, 2.0, 0.7], [3, 1, 2, 4, 3]
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_summary_averages_over_prompts_and_counts_undefined_correlations():
    examples = [
        {"id": "a", "dataset": "d", "scores": [0.1, 0.9, 0.5], "ratings": [2, 4, 3]},   # top-1 1, rho 1
        {"id": "b", "dataset": "d", "scores": [1.0, 3.0, 3.0], "ratings": [2, 4, 3]},   # top-1 1/2
        {"id": "c", "dataset": "d", "scores": [0.0, 1.0], "ratings": [3, 3]},            # top-1 1, rho undefined
        {"id": "e", "dataset": "other", "scores": [2.0, 1.0], "ratings": [0, 4]},       # top-1 0, rho -1
    ]
    s = summarize(examples)["datasets"]
    assert s["d"]["n"] == 3 and s["d"]["top1"] == pytest.approx(2.5 / 3)
    assert s["d"]["chance"] == pytest.approx((1 / 3 + 1 / 3 + 1) / 3)
    rho_b = spearman([1.0, 3.0, 3.0], [2, 4, 3])
    assert s["d"]["spearman"] == pytest.approx((1.0 + rho_b) / 2) and s["d"]["undefined"] == 1
    lo, hi = s["d"]["top1_ci95"]
    assert 0.5 <= lo <= s["d"]["top1"] <= hi <= 1.0
    assert s["other"] == {"n": 1, "top1": 0.0, "top1_ci95": [0.0, 0.0], "chance": 0.5, "spearman": -1.0,
                          "spearman_ci95": [-1.0, -1.0], "undefined": 0}
