"""RM-Bench scoring against numbers derived by hand from its README's definition (THU-KEG/RM-Bench)."""

from __future__ import annotations

import numpy as np
import pytest

from rewardkit.evaluation.rmbench import accuracy_matrix, levels, summarize

# e1: chosen (concise, plain, markdown) = 3, 2, 1; rejected = 2.5, 1.5, 0.5
#   chosen_i > rejected_j:  i=0: 1 1 1 | i=1: 0 1 1 | i=2: 0 0 1
# e2: chosen all 1; rejected 1, 2, 0 (a tie with rejected style 0 counts as a loss)
#   every row: 0 0 1
E1 = {"id": "e1", "domain": "code", "score_chosen": [3.0, 2.0, 1.0], "score_rejected": [2.5, 1.5, 0.5]}
E2 = {"id": "e2", "domain": "code", "score_chosen": [1.0, 1.0, 1.0], "score_rejected": [1.0, 2.0, 0.0]}


def test_matrix_rows_are_chosen_styles_and_columns_rejected_styles():
    assert accuracy_matrix([E1, E2]) == [[0.5, 0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 0.0, 1.0]]


def test_hard_is_above_the_diagonal_normal_on_it_easy_below():
    """hard = plainer chosen vs fancier rejected = entries (0,1), (0,2), (1,2) = (0.5 + 1 + 1) / 3."""
    got = levels([[0.5, 0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 0.0, 1.0]])
    assert got["hard"] == pytest.approx(2.5 / 3)
    assert got["normal"] == pytest.approx(2 / 3)
    assert got["easy"] == 0.0
    assert got["score"] == pytest.approx((2.5 / 3 + 2 / 3 + 0) / 3)


def test_a_model_fooled_by_style_scores_high_easy_low_hard():
    """Scores = style bonus only (markdown > plain > concise) and the correct answer no better: the chosen
    wins exactly when its style is fancier (below the diagonal): easy 1, normal 0, hard 0."""
    styled = {"id": "s", "domain": "chat", "score_chosen": [0.0, 1.0, 2.0], "score_rejected": [0.0, 1.0, 2.0]}
    got = levels(accuracy_matrix([styled]))
    assert (got["easy"], got["normal"], got["hard"]) == (1.0, 0.0, 0.0)


def test_overall_averages_the_four_domains_and_safety_pools_its_two_parts():
    win = {"score_chosen": [1.0, 1.0, 1.0], "score_rejected": [0.0, 0.0, 0.0]}   # all nine entries 1
    lose = {"score_chosen": [0.0, 0.0, 0.0], "score_rejected": [1.0, 1.0, 1.0]}  # all nine entries 0
    rows = [{"id": "c", "domain": "chat", **win}, {"id": "k", "domain": "code", **lose},
            {"id": "m", "domain": "math", **win}, {"id": "r", "domain": "safety-refuse", **win},
            {"id": "p", "domain": "safety-response", **lose}]
    s = summarize(rows)
    assert s["domains"]["safety"]["score"] == 0.5 and s["domains"]["safety"]["n"] == 2
    assert s["domains"]["safety-refuse"]["score"] == 1.0 and s["domains"]["safety-response"]["score"] == 0.0
    assert s["overall"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    assert s["hard"] == s["easy"] == s["normal"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    only_code = summarize([E1, E2])
    assert only_code["overall"] is None
    assert only_code["overall_present_domains"] == pytest.approx((2.5 / 3 + 2 / 3) / 3)
    assert only_code["hard_present_domains"] == pytest.approx(2.5 / 3)


def test_matches_the_readme_definition_written_with_numpy_triangles_on_random_tied_scores():
    """An independent restatement of the README's definition (count wins into a 3x3 array, divide by n,
    hard = strict upper triangle / 3, normal = diagonal mean, easy = strict lower triangle / 3), on integer
    scores so ties occur often."""
    rng = np.random.default_rng(0)
    examples = [{"id": str(k), "domain": "math", "score_chosen": rng.integers(0, 4, 3).tolist(),
                 "score_rejected": rng.integers(0, 4, 3).tolist()} for k in range(50)]
    wins = np.zeros((3, 3))
    for e in examples:
        for i in range(3):
            for j in range(3):
                wins[i, j] += e["score_chosen"][i] > e["score_rejected"][j]
    acc = wins / len(examples)
    got = summarize(examples)["domains"]["math"]
    assert got["hard"] == pytest.approx(np.triu(acc, 1).sum() / 3)
    assert got["normal"] == pytest.approx(np.diag(acc).mean())
    assert got["easy"] == pytest.approx(np.tril(acc, -1).sum() / 3)
    assert np.allclose(got["matrix"], acc)
