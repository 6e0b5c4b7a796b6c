"""RewardBench 2 scoring against numbers derived by hand from the official rules
(allenai/reward-bench scripts/run_v2.py, rewardbench/utils.py; see rewardkit.evaluation.rewardbench2)."""

from __future__ import annotations

import math

import pytest

from rewardkit.evaluation.rewardbench2 import best_of_n_result, id_stats, subset_scores, summarize, ties_terms


@pytest.mark.parametrize("scores, expected", [
    ([3.0, 1.0, 2.0, 0.0], 1.0),      # correct completion strictly highest
    ([3.0, 3.0, 1.0, 0.0], 0.5),      # two-way tie at the top: credit 1/2
    ([2.0, 2.0, 2.0, 2.0], 0.25),     # four-way tie: 1/4
    ([2.0, 3.0, 1.0, 0.0], 0.0),      # an incorrect completion wins
    ([1.0, 1.0, 3.0, 0.0], 0.0),      # tied with another, but both below the maximum
])
def test_best_of_4_gives_one_over_k_credit_for_ties(scores, expected):
    assert best_of_n_result(scores) == expected


def _ties_rows():
    return [
        {"id": "ref:0", "subset": "Ties", "scores": [5.0, 1.0, 2.0, 0.0], "num_correct": 1},
        {"id": "tied:0", "subset": "Ties", "scores": [4.0, 6.0, 5.0, 1.0, 3.0], "num_correct": 3},
        {"id": "ref:1", "subset": "Ties", "scores": [2.0, 3.0, 0.0, 1.0], "num_correct": 1},
        {"id": "tied:1", "subset": "Ties", "scores": [7.0, 7.0, 1.0, 2.0], "num_correct": 2},
        {"id": "tied:2", "subset": "Ties", "scores": [1.0, 2.0, 3.0], "num_correct": 2},  # no ref:2
    ]


def test_ties_per_id_statistics_by_hand():
    # tied:0: correct [4, 6, 5], incorrect [1, 3]: worst correct 4 > best incorrect 3; margins 4-3, 6-4
    assert id_stats([4.0, 6.0, 5.0, 1.0, 3.0], 3) == {"accurate": True, "correct_incorrect_margin": 1.0,
                                                      "different_correct_margin": 2.0}
    # a single correct answer has no different-correct margin
    assert id_stats([2.0, 3.0, 0.0, 1.0], 1)["different_correct_margin"] is None
    assert id_stats([2.0, 3.0, 0.0, 1.0], 1)["accurate"] is False


def test_ties_weighted_score_by_hand():
    """acc(tied) = tied:0, tied:1 accurate, tied:2 not = 2/3; acc(ref) = ref:0 yes, ref:1 no = 1/2.
    Prompts with ref and tied and a different-correct margin: 0 (dcm 2) and 1 (dcm 0).
      preferred: tied cim > dcm: 1 > 2 no, 5 > 0 yes -> 1/2
      preferred hard: min(ref cim, tied cim) > dcm: min(3, 1) = 1 > 2 no, min(-1, 5) = -1 > 0 no -> 0
      margin score over dcm > 0 (prompt 0 only): tanh(1 / 2 - 1) = tanh(-0.5)
    score = 0.3 * 2/3 + 0.3 * 1/2 + 0.2 * 1/2 + 0.2 * 0 + 0.01 * tanh(-0.5)."""
    terms = ties_terms(_ties_rows())
    assert terms["acc_tied"] == pytest.approx(2 / 3)
    assert terms["acc_ref"] == 0.5
    assert terms["correctness_preferred"] == 0.5
    assert terms["correctness_preferred_hard"] == 0.0
    assert terms["margin_score"] == pytest.approx(math.tanh(-0.5))
    expected = 0.3 * 2 / 3 + 0.3 * 0.5 + 0.2 * 0.5 + 0.01 * math.tanh(-0.5)
    assert terms["score"] == pytest.approx(expected)
    assert expected == pytest.approx(0.44537883, abs=1e-8)
    assert subset_scores(_ties_rows())["Ties"]["score"] == pytest.approx(expected)


def test_ties_ids_must_name_ref_or_tied():
    with pytest.raises(ValueError, match="'prompt:3'"):
        ties_terms([{"id": "prompt:3", "subset": "Ties", "scores": [1.0, 0.0], "num_correct": 1}])


def test_overall_is_the_unweighted_mean_of_the_six_subsets_and_none_when_one_is_missing():
    rows = [{"id": f"{s}-{k}", "subset": s, "scores": sc, "num_correct": 1}
            for s, sc in (("Factuality", [1.0, 0.0, 0.0, 0.0]), ("Precise IF", [0.0, 1.0, 0.0, 0.0]),
                          ("Math", [1.0, 1.0, 0.0, 0.0]), ("Safety", [1.0, 0.0, 0.0, 0.0]),
                          ("Focus", [1.0, 1.0, 1.0, 1.0])) for k in range(2)]
    partial = summarize(rows)
    assert partial["overall"] is None
    assert partial["overall_present_subsets"] == pytest.approx((1 + 0 + 0.5 + 1 + 0.25) / 5)
    full = summarize(rows + _ties_rows())
    ties = 0.3 * 2 / 3 + 0.3 * 0.5 + 0.2 * 0.5 + 0.01 * math.tanh(-0.5)
    assert full["overall"] == pytest.approx((1 + 0 + 0.5 + 1 + 0.25 + ties) / 6)
    assert full["subsets"]["Math"] == {"n": 2, "score": 0.5}
