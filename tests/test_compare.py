"""The paired bootstrap comparison on hand-checkable cases, and the rows `compare` builds."""

from __future__ import annotations

import pytest

from rewardkit.evaluation.bootstrap import mean_interval, paired_difference
from rewardkit.evaluation.compare import compare
from rewardkit.evaluation.rewardbench2 import summarize as rb2_summarize


def mean_of(rows: list) -> float:
    return sum(rows) / len(rows)


def test_a_difference_on_every_example_is_supported_with_a_degenerate_interval():
    a = {str(i): [1] for i in range(20)}
    b = {str(i): [0] for i in range(20)}
    d = paired_difference(a, b, mean_of)
    assert d["diff"] == -1.0 and d["ci95"] == [-1.0, -1.0] and d["supported"] and d["n"] == 20


def test_two_examples_one_differing_give_the_interval_from_all_draws():
    """Per-unit differences (B - A) are -1 and 0. Resampling 2 units gives mean differences -1, -1/2 and 0
    with probabilities 1/4, 1/2, 1/4, so over 1000 draws the 2.5th and 97.5th percentiles are -1 and 0:
    the point estimate is -1/2 but the interval holds 0, and the difference is not supported."""
    d = paired_difference({"x": [1], "y": [0]}, {"x": [0], "y": [0]}, mean_of)
    assert d["diff"] == -0.5 and d["ci95"] == [-1.0, 0.0] and not d["supported"]


def test_only_shared_examples_are_compared_and_strata_keep_their_sizes():
    a = {"s1": [1], "s2": [1], "t1": [0], "extra": [1]}
    b = {"s1": [1], "s2": [1], "t1": [1]}
    strata = {"s1": "S", "s2": "S", "t1": "T"}
    # A's share of units from stratum S is 2/3 in every stratified draw (B's is always 0), so the
    # difference's interval collapses to -2/3; unstratified draws would vary it
    share = lambda rows: sum(r == "S" for r in rows) / len(rows)  # noqa: E731
    d = paired_difference({k: [strata[k]] for k in strata}, {k: ["X"] for k in strata}, share, strata=strata)
    assert d["n"] == 3 and d["a"] == pytest.approx(2 / 3) and d["ci95"] == pytest.approx([-2 / 3, -2 / 3])
    loose = paired_difference({k: [strata[k]] for k in strata}, {k: ["X"] for k in strata}, share)
    assert loose["ci95"][0] < -0.9 and loose["ci95"][1] > -0.4
    assert paired_difference(a, b, mean_of, strata=strata)["diff"] == pytest.approx(1 - 2 / 3)


def test_mean_interval_of_constant_values_is_that_value():
    assert mean_interval([0.25] * 7) == (0.25, 0.25)


def _rb2(scores_by_id: dict) -> dict:
    return {"model": "m", "examples": [], "rewardbench2": {"examples": [
        {"id": i, "subset": "Ties" if ":" in i else "Math", "scores": s, "num_correct": n}
        for i, (s, n) in scores_by_id.items()]}}


def test_compare_rows_match_each_models_own_summary_and_keep_ties_prompts_together():
    a = _rb2({"m0": ([1.0, 0.0, 0.0, 0.0], 1), "m1": ([0.0, 1.0, 0.0, 0.0], 1),
              "ref:0": ([5.0, 1.0], 1), "tied:0": ([4.0, 6.0, 1.0], 2)})
    b = _rb2({"m0": ([1.0, 1.0, 0.0, 0.0], 1), "m1": ([1.0, 0.0, 0.0, 0.0], 1),
              "ref:0": ([0.0, 1.0], 1), "tied:0": ([4.0, 6.0, 5.0], 2)})
    rows = {r["row"]: r for r in compare([a, b], n_boot=200)}
    assert set(rows) == {"Math", "Ties"}  # no overall: four subsets are missing
    assert rows["Math"]["a"] == 0.5 and rows["Math"]["b"] == 0.75 and rows["Math"]["diff"] == 0.25
    ties_a = rb2_summarize(a["rewardbench2"]["examples"])["subsets"]["Ties"]["score"]
    ties_b = rb2_summarize(b["rewardbench2"]["examples"])["subsets"]["Ties"]["score"]
    assert rows["Ties"]["a"] == pytest.approx(ties_a) and rows["Ties"]["b"] == pytest.approx(ties_b)
    assert rows["Ties"]["n"] == 1  # ref:0 and tied:0 are one unit: one prompt
    assert rows["Ties"]["ci95"] == pytest.approx([ties_b - ties_a] * 2)


def test_compare_needs_shared_examples():
    with pytest.raises(ValueError, match="share no examples"):
        compare([_rb2({"m0": ([1.0, 0.0], 1)}), _rb2({"m9": ([1.0, 0.0], 1)})])
