"""`rewardkit evaluate` end to end with a tiny model, and `--scores` recomputing without one."""

from __future__ import annotations

import json

import pytest
from tiny_models import save_tiny, tiny_llama, tiny_tokenizer
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.models.scoring import RewardModel
from rewardkit.data.sources import read_pairs
from conftest import SHARED

RB500 = SHARED / "data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl"


@pytest.fixture()
def setup(tmp_path):
    rows = RB500.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "rb.jsonl"
    data.write_text("\n".join(rows[:6] + rows[-3:]) + "\n")  # alpacaeval-easy and llmbar rows
    model_dir = save_tiny(tiny_llama(), tiny_tokenizer(), tmp_path / "model")
    return data, model_dir


def test_evaluate_writes_every_example_and_recomputes(setup, tmp_path):
    data, model_dir = setup
    out = tmp_path / "eval"
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--model", str(model_dir), "--data", f"rewardbench:{data}", "--out", str(out),
                              "--dtype", "float32", "--max-length", "64"])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    pairs, _ = read_pairs(f"rewardbench:{data}")
    assert [e["id"] for e in results["examples"]] == [p.source_id for p in pairs]
    rm = RewardModel.load(model_dir, dtype="float32")
    expected = rm.score_pairs(pairs, max_length=64, progress=False)
    got = [s for e in results["examples"] for s in (e["score_chosen"], e["score_rejected"])]
    assert got == pytest.approx([s for pair in expected for s in pair], abs=1e-5)
    assert results["truncated_pairs"][f"rewardbench:{data}"] == rm.truncated > 0  # long rows are counted
    assert results["sections"]["Safety"] is None and "Chat" in res.output and "Chat Hard" in res.output
    again = runner.invoke(app, ["evaluate", "--scores", str(out / "results.json")])
    assert again.exit_code == 0, again.output
    from rewardkit.evaluation.run import recompute

    assert recompute(out / "results.json")["sections"] == results["sections"]


def test_evaluating_a_bare_backbone_is_reproducible_through_the_seed(setup, tmp_path):
    """A backbone has no head: evaluate draws one, from --seed, so reruns give the same numbers."""
    from tiny_models import tiny_backbone_dir

    data, _ = setup
    backbone = tiny_backbone_dir(tmp_path / "backbone")

    def scores(seed: int, name: str) -> list[float]:
        out = tmp_path / name
        res = CliRunner().invoke(app, ["evaluate", "--model", str(backbone), "--data", f"rewardbench:{data}", "--out",
                                       str(out), "--dtype", "float32", "--max-length", "64", "--seed", str(seed)])
        assert res.exit_code == 0, res.output
        results = json.loads((out / "results.json").read_text())
        assert results["settings"]["seed"] == seed
        return [e["score_chosen"] for e in results["examples"]]

    first = scores(1, "a")
    assert scores(1, "b") == first
    assert scores(2, "c") != first


def test_evaluate_needs_data_and_out():
    res = CliRunner().invoke(app, ["evaluate", "--model", "x"])
    assert res.exit_code != 0 and "--data" in str(res.exception)


@pytest.mark.slow
def test_evaluate_launched_on_two_processes_scores_shards_and_writes_once(setup, tmp_path):
    """Under torchrun each rank scores its shard; the main rank writes results.json with every example,
    equal to the single-process run."""
    import os
    import subprocess
    import sys

    data, model_dir = setup
    args = ["evaluate", "--model", str(model_dir), "--data", f"rewardbench:{data}", "--dtype", "float32",
            "--max-length", "64"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "rewardkit.cli", *args, "--out", str(tmp_path / "two")]
    run = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=240)
    two = json.loads((tmp_path / "two" / "results.json").read_text())  # written before any teardown
    assert two["processes"] == 2, run.stderr[-2000:]
    one = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    single = json.loads((tmp_path / "one" / "results.json").read_text())
    assert single["processes"] == 1
    assert [e["id"] for e in two["examples"]] == [e["id"] for e in single["examples"]]
    for a, b in zip(two["examples"], single["examples"]):
        assert a["score_chosen"] == pytest.approx(b["score_chosen"], abs=1e-5)
        assert a["score_rejected"] == pytest.approx(b["score_rejected"], abs=1e-5)
    assert two["truncated_pairs"] == single["truncated_pairs"] and two["sections"] == single["sections"]


def test_scores_with_out_writes_the_recomputed_results(setup, tmp_path):
    """`evaluate --scores F --out DIR` writes DIR/results.json: F's examples and settings with every
    summary number recomputed (here F's summary is corrupted on purpose; the output must not keep it)."""
    data, model_dir = setup
    res = CliRunner().invoke(app, ["evaluate", "--model", str(model_dir), "--data", f"rewardbench:{data}", "--out",
                                   str(tmp_path / "eval"), "--dtype", "float32", "--max-length", "64"])
    assert res.exit_code == 0, res.output
    original = json.loads((tmp_path / "eval" / "results.json").read_text())
    tampered = {**original, "subsets": {}, "sections": {"Chat": 0.0}, "table2": None}
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    again = CliRunner().invoke(app, ["evaluate", "--scores", str(tmp_path / "tampered.json"), "--out",
                                     str(tmp_path / "re")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "re" / "results.json").read_text()) == original
