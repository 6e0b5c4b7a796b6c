"""`rewardkit evaluate` on RewardBench 2, RM-Bench and best-of-N rows in their public schemas, end to end
with a tiny model: every set scored through the one batched scorer, `--scores` recomputing every number,
two results side by side, and the readers' bad-row errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED
from tiny_models import save_tiny, tiny_llama, tiny_tokenizer
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.data.io import BadRow
from rewardkit.data.sources.sets import read_sets
from rewardkit.evaluation import bestofn, rewardbench2, rmbench
from rewardkit.evaluation.results import EvaluationResults
from rewardkit.models.scoring import RewardModel

ROOT = Path(__file__).resolve().parents[1]
RB2 = ROOT / "data/rewardbench2-mini.jsonl"
RMB = ROOT / "data/rmbench-mini.json"
HELPSTEER = SHARED / "data/hf-samples-500/nvidia_HelpSteer_sample.jsonl"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    helpsteer = tmp / "helpsteer.jsonl"
    helpsteer.write_text("".join(HELPSTEER.read_text(encoding="utf-8").splitlines(keepends=True)[:24]))
    models = [save_tiny(tiny_llama(seed=s), tiny_tokenizer(), tmp / f"model{s}") for s in (0, 1)]
    return tmp, helpsteer, models


def _evaluate(model, out, helpsteer, *extra):
    args = ["evaluate", "--model", str(model), "--data", f"rewardbench2:{RB2}", "--data", f"rmbench:{RMB}",
            "--best-of-n", f"helpsteer2:{helpsteer}", "--out", str(out), "--dtype", "float32", "--max-length", "96",
            *extra]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    typed = EvaluationResults.model_validate(results)  # the stage's contract, read back whole
    assert typed.as_json() == results and typed.subsets is None  # sets only: no pair summary
    assert typed.rmbench["examples"] == results["rmbench"]["examples"]
    return results, res.output


def test_every_set_is_scored_as_its_conversations_and_summarized_officially(setup):
    tmp, helpsteer, (model, _) = setup
    results, output = _evaluate(model, tmp / "one", helpsteer)
    rm = RewardModel.load(model, dtype="float32")
    rb2_sets, _ = read_sets(f"rewardbench2:{RB2}")
    stored = results["rewardbench2"]["examples"]
    assert [e["id"] for e in stored] == [s.source_id for s in rb2_sets]
    assert stored[-1]["id"] == "tied:1" and stored[-1]["num_correct"] == 4 and len(stored[-1]["scores"]) == 7
    expected = rm.score([c for s in rb2_sets for c in s.conversations()], max_length=96, progress=False)
    assert [x for e in stored for x in e["scores"]] == pytest.approx(expected, abs=1e-5)
    assert results["rewardbench2"] == {"examples": stored, **rewardbench2.summarize(stored)}
    assert set(results["rewardbench2"]["subsets"]) == set(rewardbench2.SUBSETS)  # all six: an overall
    assert results["rewardbench2"]["overall"] == pytest.approx(
        sum(v["score"] for v in results["rewardbench2"]["subsets"].values()) / 6)
    rmb = results["rmbench"]["examples"]
    assert {e["domain"] for e in rmb} == {"chat", "math", "safety-refuse", "safety-response"}
    assert all(len(e["score_chosen"]) == len(e["score_rejected"]) == 3 for e in rmb)
    assert results["rmbench"] == {"examples": rmb, **rmbench.summarize(rmb)}
    bon = results["best_of_n"]["examples"]
    assert all(len(e["scores"]) == len(e["ratings"]) >= 2 for e in bon)
    assert results["best_of_n"] == {"examples": bon, **bestofn.summarize(bon)}
    assert "RewardBench 2" in output and "RM-Bench" in output and "Best-of-N" in output
    assert results["examples"] == [] and "sections" not in results  # no pair data given


def test_scores_recompute_every_number_and_two_results_compare(setup):
    tmp, helpsteer, (m0, m1) = setup
    first, _ = _evaluate(m0, tmp / "a", helpsteer)
    _evaluate(m1, tmp / "b", helpsteer)
    from rewardkit.evaluation.run import recompute

    again = recompute(tmp / "a" / "results.json")
    for section in ("rewardbench2", "rmbench", "best_of_n"):
        assert {k: v for k, v in again[section].items()} == {k: v for k, v in first[section].items()}
    res = CliRunner().invoke(app, ["evaluate", "--scores", str(tmp / "a" / "results.json"),
                                   "--scores", str(tmp / "b" / "results.json")])
    assert res.exit_code == 0, res.output
    assert "Side by side" in res.output and "supported?" in res.output and "A = " in res.output
    from rewardkit.evaluation.run import compare_files

    rows = compare_files([tmp / "a" / "results.json", tmp / "b" / "results.json"], n_boot=100)
    names = [(r["benchmark"], r["row"]) for r in rows]
    assert ("RewardBench 2", "Ties") in names and ("RewardBench 2", "overall") in names
    assert ("RM-Bench", "overall present domains") in names and ("best-of-N", f"helpsteer2:{helpsteer} top-1") in names
    by_name = {(r["benchmark"], r["row"]): r for r in rows}
    second = recompute(tmp / "b" / "results.json")
    ties = by_name[("RewardBench 2", "Ties")]
    assert ties["a"] == pytest.approx(first["rewardbench2"]["subsets"]["Ties"]["score"])
    assert ties["b"] == pytest.approx(second["rewardbench2"]["subsets"]["Ties"]["score"])


@pytest.mark.parametrize("examples, message", [
    ([{"id": "x", "subset": "Math", "scores": [1.0, "a"], "num_correct": 1}],
     r"rewardbench2.examples\[0\] \(id 'x'\): field 'scores' holds a non-number"),
    ([{"id": "x", "subset": "Math", "scores": [1.0, float("nan")], "num_correct": 1}], "scores must be finite"),
    ([{"id": "x", "subset": "Math", "scores": [1.0, 0.0], "num_correct": 1}] * 2,
     r"rewardbench2.examples\[1\]: id 'x' given twice \(first at rewardbench2.examples\[0\]\)"),
])
def test_recompute_names_the_bad_example(tmp_path, examples, message):
    (tmp_path / "r.json").write_text(json.dumps({"rewardbench2": {"examples": examples}}))
    from rewardkit.evaluation.run import recompute

    with pytest.raises(ValueError, match=message):
        recompute(tmp_path / "r.json")


def _rb2_row(**over):
    row = {"id": "a", "prompt": "p", "chosen": ["yes"], "rejected": ["no", "nah", "nope"], "num_correct": 1,
           "num_incorrect": 3, "total_completions": 4, "subset": "Math"}
    return json.dumps({**row, **over}) + "\n"


@pytest.mark.parametrize("over, field, reason", [
    ({"num_correct": 2}, "num_correct", "does not match 1 chosen"),
    ({"total_completions": 5}, "total_completions", "5 != 1 chosen + 3 rejected"),
    ({"subset": "Ties", "id": "7"}, "id", "'ref:N' or 'tied:N'"),
    ({"rejected": ["no", ""]}, "rejected", "response 1 is empty text"),
])
def test_reward_bench_2_bad_rows_name_file_row_and_field(tmp_path, over, field, reason):
    f = tmp_path / "rb2.jsonl"
    f.write_text(_rb2_row(id="ok") + _rb2_row(**over))
    with pytest.raises(BadRow) as err:
        read_sets(f"rewardbench2:{f}")
    assert (err.value.file, err.value.row, err.value.field) == (str(f), 2, field) and reason in str(err.value)


def test_rm_bench_domain_comes_from_the_field_the_option_or_the_file_name(tmp_path):
    row = {"id": 1, "prompt": "p", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}
    named = tmp_path / "math_filtered.json"
    named.write_text(json.dumps([row]))
    assert read_sets(f"rmbench:{named}")[0][0].group == "math"
    other = tmp_path / "rows.json"
    other.write_text(json.dumps([row]))
    assert read_sets(f"rmbench:{other}?domain=chat")[0][0].group == "chat"
    with pytest.raises(BadRow, match="unknown domain 'rows.json'"):
        read_sets(f"rmbench:{other}")
    real, report = read_sets(f"rmbench:{SHARED / 'data/rm-bench/code_filtered.json'}")
    assert len(real) == 228 and {s.group for s in real} == {"code"} and report.rows_read == 228


def test_helpsteer_sets_group_responses_by_prompt_rated_by_helpfulness():
    sets, report = read_sets(f"helpsteer2:{HELPSTEER}")
    rows = [json.loads(line) for line in HELPSTEER.read_text(encoding="utf-8").splitlines()]
    by_prompt: dict[str, list] = {}
    for r in rows:
        by_prompt.setdefault(r["prompt"], []).append(r)
    multi = [v for v in by_prompt.values() if len(v) > 1]
    assert len(sets) == len(multi) == 130 and report.dropped["single response for prompt"] == 9
    assert sets[0].ratings == [float(r["helpfulness"]) for r in multi[0]]
    assert sets[0].responses == [r["response"] for r in multi[0]]


@pytest.mark.slow
def test_benchmarks_under_torchrun_equal_the_single_process_run(setup, tmp_path):
    """Two processes each score a shard of the sets; the main rank writes the same scores as one process."""
    import os
    import subprocess
    import sys

    _, helpsteer, (model, _) = setup
    args = ["evaluate", "--model", str(model), "--data", f"rewardbench2:{RB2}", "--data", f"rmbench:{RMB}",
            "--dtype", "float32", "--max-length", "96"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "rewardkit.cli", *args, "--out", str(tmp_path / "two")]
    run = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=240)
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["processes"] == 2, run.stderr[-2000:]
    one = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    single = json.loads((tmp_path / "one" / "results.json").read_text())
    for section, keys in (("rewardbench2", ("scores",)), ("rmbench", ("score_chosen", "score_rejected"))):
        assert two[section]["examples"]  # each key of each example is compared, none skipped when absent
        for a, b in zip(two[section]["examples"], single[section]["examples"], strict=True):
            assert a["id"] == b["id"]
            for key in keys:
                assert a[key] == pytest.approx(b[key], abs=1e-5)


def test_magpie_sets_carry_the_five_armorm_ratings(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rewards = [[{"score": s} for s in (0.1, 0.3, 0.2, 0.05, 0.15)], [{"score": 0.2}, {"score": 0.1}]]
    table = pa.table({"uuid": ["u1", "u2"], "instruction": ["q1", "q2"],
                      "responses": [["a", "b", "c", "d", "e"], ["f", "g", "h"]], "rewards_armorm": rewards})
    pq.write_table(table, tmp_path / "train.parquet")
    sets, report = read_sets(f"magpie_pro:{tmp_path / 'train.parquet'}", on_bad_row="skip")
    assert len(sets) == 1 and sets[0].ratings == [0.1, 0.3, 0.2, 0.05, 0.15] and sets[0].source_id == "u1"
    assert report.skipped == {"rewards_armorm: length 2 != 3 responses": 1}


def test_the_pair_views_feed_stats_and_decontamination():
    from rewardkit.data.sources import read_pairs

    pairs, _ = read_pairs(f"rewardbench2:{RB2}")
    sets, _ = read_sets(f"rewardbench2:{RB2}")
    assert len(pairs) == sum(s.num_correct * (len(s.responses) - s.num_correct) for s in sets)  # correct x incorrect
    assert pairs[0].meta["subset"] == "Factuality" and pairs[0].source_id == "fact-0#0-0"
    from rewardkit.decontamination.run import load_references

    refs, _ = load_references([f"rewardbench2:{RB2}", f"rmbench:{RMB}"])
    assert [r.id for r in refs["rewardbench2"]] == [s.source_id for s in sets]  # one prompt per row
    assert refs["rmbench"][0].subset == "chat" and refs["rewardbench2"][-1].subset == "Ties"
    rm_pairs, _ = read_pairs(f"rmbench:{RMB}")
    assert len(rm_pairs) == 3 * 8 and rm_pairs[0].source_id == "chat/0#concise"


def test_the_quickstart_evaluates_all_three_benchmarks():
    from rewardkit.data.sources.base import parse_spec
    from rewardkit.pipeline import PipelineRecipe
    from rewardkit.recipe import load_recipe

    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", PipelineRecipe)
    readers = {parse_spec(s).reader for s in recipe.evaluate.data}
    assert {"rewardbench", "rewardbench2", "rmbench"} <= readers
    for spec in recipe.evaluate.data:
        location = parse_spec(spec).location
        assert (ROOT / location).exists() or Path(location).exists(), location


def test_the_pipeline_stage_prints_and_returns_every_benchmark(setup, tmp_path):
    from rich.console import Console

    from rewardkit.pipeline import run

    _, _, (model, _) = setup
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"out_dir: {tmp_path / 'run'}\nevaluate:\n  model: {model}\n  dtype: float32\n  max_length: 96\n"
                      f"  data: ['rewardbench2:{RB2}', 'rmbench:{RMB}']\n")
    console = Console(record=True, width=120)
    stage = run(recipe, [], console)["evaluate"]
    stored = json.loads(stage["results"].read_text())
    assert stage["rewardbench2_overall"] == stored["rewardbench2"]["overall"] is not None
    assert stage["rmbench_overall"] is None  # the mini file has no code domain
    assert stored["rmbench"]["overall"] is None and stored["rmbench"]["overall_present_domains"] is not None
    text = console.export_text()
    assert "RewardBench 2" in text and "RM-Bench" in text and "Ties" in text


def test_several_models_are_each_evaluated_then_compared(setup, tmp_path):
    _, _, (m0, m1) = setup
    res = CliRunner().invoke(app, ["evaluate", "--model", str(m0), "--model", str(m1), "--data", f"rewardbench2:{RB2}",
                                   "--out", str(tmp_path), "--dtype", "float32", "--max-length", "96"])
    assert res.exit_code == 0, res.output
    a, b = (json.loads((tmp_path / f"model-{k}" / "results.json").read_text()) for k in (0, 1))
    assert (a["model"], b["model"]) == (str(m0), str(m1))
    assert [e["id"] for e in a["rewardbench2"]["examples"]] == [e["id"] for e in b["rewardbench2"]["examples"]]
    assert "Side by side" in res.output
    compared = json.loads((tmp_path / "comparison.json").read_text())  # the side-by-side rows, written too
    assert compared["files"] == [str(tmp_path / f"model-{k}" / "results.json") for k in (0, 1)] and compared["rows"]
