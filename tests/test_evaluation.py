"""RewardBench scoring on the shared 500 real rows with synthetic score patterns; numbers derived by hand."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rewardkit.evaluation.bootstrap import mean_interval
from rewardkit.evaluation.rewardbench import EXAMPLE_COUNTS, overall, per_subset, section_scores, summarize
from rewardkit.data.sources import read_pairs
from conftest import SHARED

RB500 = SHARED / "data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl"


@pytest.fixture(scope="module")
def rb_pairs():
    pairs, _ = read_pairs(f"rewardbench:{RB500}")
    return pairs


def _examples(pairs, rule):
    """rule(index within its subset, in file order) -> (score_chosen, score_rejected)."""
    seen: Counter = Counter()
    out = []
    for p in pairs:
        s = p.meta["subset"]
        out.append({"id": p.source_id, "subset": s, "score_chosen": rule(seen[s])[0], "score_rejected": rule(seen[s])[1]})
        seen[s] += 1
    return out


def test_the_shared_rows_hold_the_subsets_we_derive_by_hand(rb_pairs):
    assert Counter(p.meta["subset"] for p in rb_pairs) == {
        "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28,
        "mt-bench-med": 40, "mt-bench-hard": 37, "llmbar-natural": 100, "llmbar-adver-neighbor": 5}


def test_all_correct_sections_present_and_missing(rb_pairs):
    s = summarize(_examples(rb_pairs, lambda i: (1.0, 0.0)))
    assert s["sections"] == {"Chat": 1.0, "Chat Hard": 1.0, "Safety": None, "Reasoning": None}
    assert s["overall"] is None and s["table2"]["Avg"] is None  # never a silent 0 for missing sections
    assert s["overall_present_sections"] == 1.0
    assert s["overall_official_zero_fill"] == 0.5  # what reward-bench's calculate_scores_per_section would give


def test_all_ties_are_wrong(rb_pairs):
    s = summarize(_examples(rb_pairs, lambda i: (0.25, 0.25)))
    assert s["sections"]["Chat"] == 0.0 == s["sections"]["Chat Hard"]
    assert all(v["correct"] == 0 for v in s["subsets"].values())


def test_alternating_correct_and_tied(rb_pairs):
    # even index within a subset: correct; odd: a tie (wrong). Subset of n rows: ceil(n/2) correct.
    s = summarize(_examples(rb_pairs, lambda i: (2.0, 1.0) if i % 2 == 0 else (3.0, 3.0)))
    assert s["subsets"]["alpacaeval-length"] == {"n": 95, "correct": 48, "accuracy": 48 / 95}
    assert s["subsets"]["llmbar-adver-neighbor"]["accuracy"] == 3 / 5
    # Chat: (100*50/100 + 95*48/95 + 95*48/95 + 28*14/28 + 40*20/40) / (100+95+95+28+40) = 180/358
    assert s["sections"]["Chat"] == pytest.approx(180 / 358)
    # Chat Hard weights are the full-benchmark counts: (37*19/37 + 100*50/100 + 134*3/5) / (37+100+134)
    assert s["sections"]["Chat Hard"] == pytest.approx((19 + 50 + 134 * 3 / 5) / 271)
    assert s["table2"]["Chat"] == pytest.approx(100 * 180 / 358)


def test_chosen_lower_is_wrong_and_per_row_ids_kept(rb_pairs):
    ex = _examples(rb_pairs, lambda i: (0.0, 1.0) if i < 10 else (1.0, 0.0))
    s = summarize(ex)
    assert s["subsets"]["alpacaeval-easy"]["accuracy"] == 0.9 and s["subsets"]["llmbar-adver-neighbor"]["accuracy"] == 0.0
    assert ex[0]["id"] == "30"


def test_all_four_sections_math_prm_weight_xstest_counts_and_prior_sets():
    acc = {"alpacaeval-easy": 1.0, "xstest-should-refuse": 1.0, "xstest-should-respond": 0.0,
           "math-prm": 1.0, "hep-python": 0.0}
    sec = section_scores(acc)
    assert sec["Safety"] == pytest.approx(154 / 404)  # the pre-2024-09-10 swapped counts would give 250/404
    assert sec["Reasoning"] == pytest.approx(984 / 1148)  # math-prm weighted 984, not its 447 rows
    assert sec["Chat Hard"] is None and overall(sec) is None
    acc["llmbar-natural"] = 0.5
    sec = section_scores(acc)
    four = 1.0 + 0.5 + 154 / 404 + 984 / 1148
    assert overall(sec) == pytest.approx(four / 4)
    ex = [{"subset": s, "score_chosen": float(a), "score_rejected": 0.5} for s, a in acc.items() if a in (0.0, 1.0)]
    ex += [{"subset": "llmbar-natural", "score_chosen": 1.0, "score_rejected": 0.0},
           {"subset": "llmbar-natural", "score_chosen": 0.0, "score_rejected": 0.0},
           {"subset": "anthropic_helpful", "score_chosen": 1.0, "score_rejected": 0.0},
           {"subset": "shp", "score_chosen": 0.0, "score_rejected": 1.0}]
    s = summarize(ex)
    assert s["prior_sets"] == 0.5  # mean of anthropic_helpful 1.0 and shp 0.0
    assert s["overall"] == pytest.approx((2 * four + 0.5) / 9)  # weights [2, 2, 2, 2, 1]


def test_constants_match_rewardbench_md():
    assert sum(EXAMPLE_COUNTS.values()) == 358 + 456 + 740 + 984 + 6 * 164
    assert (EXAMPLE_COUNTS["xstest-should-refuse"], EXAMPLE_COUNTS["xstest-should-respond"]) == (154, 250)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    flags = [1] * 70 + [0] * 30
    lo, hi = mean_interval(flags, seed=0)
    assert (lo, hi) == mean_interval(flags, seed=0) and lo < 0.7 < hi
    assert 0.55 < lo and hi < 0.85  # sd of the mean is sqrt(.7*.3/100) = 0.046: +-1.96 sd = 0.61..0.79
    assert mean_interval([1] * 10) == (1.0, 1.0)


def test_non_rewardbench_data_gets_accuracy_with_interval_and_no_sections():
    ex = [{"subset": "nvidia/HelpSteer2", "dataset": "helpsteer2:x", "score_chosen": float(i % 4 != 0), "score_rejected": 0.5}
          for i in range(40)]
    s = summarize(ex)
    assert "sections" not in s and s["datasets"]["helpsteer2:x"]["accuracy"] == 0.75
    assert per_subset(ex)["nvidia/HelpSteer2"]["correct"] == 30


def test_recompute_from_results_json(tmp_path, rb_pairs):
    from rewardkit.evaluation.run import recompute

    ex = _examples(rb_pairs, lambda i: (2.0, 1.0) if i % 3 else (0.0, 1.0))
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"examples": ex}))
    assert recompute(path) == summarize(ex)
    path.write_text(json.dumps({"examples": [{"id": "1", "subset": "shp", "score_chosen": "high"}]}))
    with pytest.raises(ValueError, match=r"examples\[0\].*score_chosen"):
        recompute(path)
