"""The HTML run report: built from small synthetic stage outputs, checked for its numbers, then rendered
in headless Chromium (every section in the DOM, a screenshot that is not blank)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.evaluation.rewardbench import summarize
from rewardkit.report import REPORT, render, write_report
from rewardkit.report.outputs import read_run
from rewardkit.report.sections import SECTION_IDS

# Two subsets scored by hand: alpacaeval-easy 3 of 4 chosen higher; llmbar-natural 1 of 2 (a tie is wrong).
EXAMPLES = [{"id": str(i), "subset": s, "dataset": "rb", "score_chosen": c, "score_rejected": r}
            for i, (s, c, r) in enumerate([("alpacaeval-easy", 1.0, 0.0), ("alpacaeval-easy", 2.0, 1.5),
                                           ("alpacaeval-easy", 0.5, -1.0), ("alpacaeval-easy", -1.0, 0.25),
                                           ("llmbar-natural", 0.75, 0.5), ("llmbar-natural", 0.5, 0.5)])]
STEPS = [{"label": "WildGuardMix", "step": "adversarial_only", "seen": 109, "kept": 67,
          "dropped": {"not adversarial": 42}},
         {"label": "mix", "step": "dedupe", "seen": 1168, "kept": 1161, "dropped": {"duplicate": 7}}]
COUNTS = {"total": 1161, "per_source": {"allenai/wildguardmix": 67, "b": 1094}, "reads": {"WildGuardMix": [
    {"spec": "wildguardmix:x", "rows_read": 400, "pairs": 109, "skipped": {}, "dropped": {"prompt-only": 291}}]},
    "steps": STEPS, "duplicates": [{"dropped_from": "a", "kept_from": "b", "n": 7}], "drops_written": 49,
    "magpie": None, "rm_filter_model": None, "rm_filter_truncated_pairs": 0}
"""A curate/counts.json as rewardkit.curation.counts.CurationCounts types it."""
T1 = [{"dataset": "hh_rlhf: harmless-base", "pairs": 2299, "avg_turns": 5.0, "avg_prompt_tokens": 102.7,
       "avg_response_tokens": 44.8, "report": {"rows_read": 2312, "pairs": 2299, "skipped": {"chosen: empty text": 4},
                                              "dropped": {}}},
      {"dataset": "Total", "pairs": 2299, "avg_turns": 5.0, "avg_prompt_tokens": 102.7, "avg_response_tokens": 44.8}]


def _png() -> bytes:
    from rewardkit.report.plots import training_curves

    return training_curves([{"event": "step", "step": 1, "loss": 0.7}, {"event": "step", "step": 2, "loss": 0.6}])


def write_run(run, stages=("fixtures", "data", "curate", "decontaminate", "train", "evaluate")):
    """A run directory shaped like `rewardkit run`'s, for the listed stages."""
    def put(rel, obj):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(obj if isinstance(obj, str) else json.dumps(obj))

    put("recipe.yaml", yaml.safe_dump({s: {} for s in stages} | {"out_dir": str(run)}))
    if "fixtures" in stages:
        for name in ("helpsteer2", "offsetbias", ".rewardkit-output"):  # two sources and the output marker
            put(f"fixtures/{name}", "")
    if "data" in stages:
        put("data/table1.json", T1)
    if "curate" in stages:
        put("curate/counts.json", COUNTS)
        put("curate/table1.json", T1[1:])
        (run / "curate" / "fig3_magpie_scores.png").write_bytes(_png())
    if "decontaminate" in stages:
        put("decontaminate/table4.json", {"n": 7, "fields": "first_user", "table4": [
            {"source": "xstest", "benchmark_prompts_matched": 159, "contaminated_prompts": 147,
             "contaminated_pairs": 293, "prompts": 244, "pairs": 486}],
            "benchmark_subsets": {"rewardbench/xstest-should-refuse": {"matched": 91, "prompts": 154}}})
    if "train" in stages:
        log = [{"event": "start", "step": 0, "world_size": 1, "train_pairs": {"kept": 48}, "val_pairs": {"kept": 8}}]
        log += [{"event": "step", "step": s, "loss": 0.7 - 0.05 * s, "accuracy": 0.5 + 0.05 * s, "margin": 0.1 * s}
                for s in range(1, 7)]
        log += [{"event": "eval", "step": s, "loss": 0.69 - 0.04 * s, "accuracy": 0.5 + 0.1 * s / 3,
                 "margin": 0.05 * s, "best": s == 6} for s in (3, 6)]
        put("train/train_log.jsonl", "".join(json.dumps(r) + "\n" for r in log))
    if "evaluate" in stages:
        put("evaluate/results.json", {"model": "tiny", "settings": {}, "truncated_pairs": {"rewardbench:x": 0},
                                      "truncated_conversations": {}, "read": {"rewardbench:x": "4 rows read"},
                                      "processes": 1, "examples": EXAMPLES, **summarize(EXAMPLES)})
    return run


def test_every_section_with_the_numbers_of_its_stage(tmp_path):
    html = render(read_run(write_run(tmp_path / "run")))
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    assert "data: ran" in html and "evaluate: ran" in html and "did not run" not in html
    # curation: reads, and each step's seen / kept / dropped with its reasons
    assert "<td>adversarial_only</td><td class=\"n\">109</td><td class=\"n\">67</td><td class=\"n\">42</td>" in html
    assert "not adversarial: 42" in html and "duplicate: 7" in html and "prompt-only: 291" in html
    assert "chosen: empty text: 4" in html  # the data stage's read report
    # RewardBench by hand: alpacaeval-easy 3/4 = 75.0 %, llmbar-natural 1/2 = 50.0 % (the tie is wrong)
    assert "<td>alpacaeval-easy</td><td class=\"n\">4</td><td class=\"n\">3</td><td class=\"n\">75.00</td>" in html
    assert "<td>llmbar-natural</td><td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">50.00</td>" in html
    assert "Mean of the sections present" in html  # Safety and Reasoning absent: no Avg
    assert "steps logged: 6; validations: 2; world size: 1; train pairs: 48; validation pairs: 8" in html
    assert "<td>xstest</td><td class=\"n\">159</td><td class=\"n\">147</td><td class=\"n\">293</td>" in html
    assert html.count("data:image/png;base64,") == 3  # Fig 3, training curves, score distributions


def test_sections_only_for_stages_that_ran(tmp_path):
    run = write_run(tmp_path / "run", stages=("fixtures", "decontaminate", "train"))
    (run / "recipe.yaml").write_text(yaml.safe_dump({"fixtures": {}, "decontaminate": {}, "train": {},
                                                     "evaluate": {}}))
    html = render(read_run(run))
    present = {sid for sid in SECTION_IDS if f'<section id="{sid}">' in html}
    assert present == {"stages", "table4", "training"}
    assert "curate: did not run (not in the recipe)" in html
    assert "evaluate: in the recipe, but its outputs are missing" in html


def test_a_log_cut_short_by_a_kill_still_reports_and_a_broken_file_is_named(tmp_path):
    run = write_run(tmp_path / "run", stages=("train",))
    log = run / "train" / "train_log.jsonl"
    log.write_text(log.read_text() + '{"event": "st')
    assert len(read_run(run).train_log) == 9  # start + 6 steps + 2 evals; the torn line left out
    (run / "evaluate").mkdir()
    (run / "evaluate" / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="results.json: invalid JSON"):
        read_run(run)


def test_stage_outputs_are_read_through_their_stages_models(tmp_path):
    """counts.json and results.json come back as the models their stages wrote them with; one that breaks
    the contract is an error naming the file and the field, not a KeyError deep in a section."""
    run = write_run(tmp_path / "run", stages=("curate",))
    counts = read_run(run).counts
    assert (counts.total, counts.steps[1].kept, counts.reads["WildGuardMix"][0].dropped) == (1161, 1161, {"prompt-only": 291})
    (run / "curate" / "counts.json").write_text(json.dumps({**COUNTS, "steps": [{**STEPS[0], "kept": "many"}]}))
    with pytest.raises(ValueError, match=r"counts.json: steps.0.kept: Input should be a valid integer"):
        read_run(run)
    run = write_run(tmp_path / "run2", stages=("evaluate",))
    results = read_run(run).results  # results.json likewise, through rewardkit.evaluation.results
    assert (results.model, len(results.examples), results.datasets["rb"].n) == ("tiny", len(EXAMPLES), len(EXAMPLES))
    (run / "evaluate" / "results.json").write_text(json.dumps({"model": "tiny", "examples": EXAMPLES}))
    with pytest.raises(ValueError, match=r"results.json: settings: Field required"):
        read_run(run)


def test_report_command_rebuilds_the_file(tmp_path):
    run = write_run(tmp_path / "run", stages=("train",))
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    assert (run / REPORT).read_text() == render(read_run(run))


def test_pipeline_writes_the_report_with_table1_of_its_inputs(tmp_path):
    from tiny_models import tiny_tokenizer

    from rewardkit.data.io import write_pairs
    from rewardkit.data.pairs import PreferencePair
    from rewardkit.pipeline import run as run_pipeline

    tok = tiny_tokenizer()
    tok.save_pretrained(tmp_path / "tok")
    pairs = [PreferencePair([{"role": "user", "content": "why is the sky blue"}], "because light scatter", "no", "t"),
             PreferencePair([{"role": "user", "content": "hello"}], "yes", "no", "t")]
    write_pairs(tmp_path / "pairs.jsonl", pairs)
    recipe = {"out_dir": str(tmp_path / "run"),
              "data": {"stats": [f"pairs:{tmp_path / 'pairs.jsonl'}"], "tokenizer": str(tmp_path / "tok")}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    results = run_pipeline(tmp_path / "r.yaml")
    html = results["report"].read_text()
    assert results["report"] == tmp_path / "run" / REPORT
    assert '<section id="table1">' in html and "train: did not run (not in the recipe)" in html
    assert [r["stage"] for r in results["stages"]] == ["data", "report"]  # the stages that ran, in order
    assert results["stages"][0]["figure"] == "1 input, 2 pairs"
    assert results["stages"][0]["outputs"] == str(tmp_path / "run" / "data")
    assert json.loads((tmp_path / "run" / "stages.json").read_text()).keys() == {"data", "report"}
    # by hand (word-level tokenizer): 2 turns each (one user turn + the response); prompt tokens
    # "why is the sky blue" 5, "hello" 1 -> 3.00; responses "because light scatter" 3, "yes", "no", "no" 1 -> 1.50
    assert '<td class="n">2</td><td class="n">2.00</td><td class="n">3.00</td><td class="n">1.50</td>' in html


# ------------------------------------------------------------------ in a real browser
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("headless Chromium is needed: bash scripts/setup.sh --tests installs it (Debian package chromium)")


def browse(page, tmp_path, *args) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chrome-profile'}", *args]
    return subprocess.run([chromium(), *flags, page.as_uri()], capture_output=True, text=True, timeout=120)


def test_renders_in_headless_chromium_with_every_section_and_a_non_blank_screenshot(tmp_path):
    import matplotlib.image

    page = write_report(write_run(tmp_path / "run"))
    dom = browse(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for sid in SECTION_IDS:
        assert f'id="{sid}"' in dom.stdout, sid
    shot = tmp_path / "shot.png"
    res = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]  # floats in [0, 1]
    assert pixels.shape[:2] == (2400, 1200)
    inked = (pixels.min(axis=2) < 0.9).mean()  # text, table rules and figures, not the white page
    assert pixels.std() > 0.05 and inked > 0.02, (pixels.std(), inked)
    assert np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0] > 50  # figures' colours


def test_a_train_run_dir_reports_its_training_and_a_folder_that_is_no_run_is_refused(tmp_path):
    from rewardkit.errors import UserError

    staged = write_run(tmp_path / "staged", stages=("train",))
    train = tmp_path / "train"  # `rewardkit train`'s out_dir: its recipe and log at the top
    train.mkdir()
    (train / "recipe.yaml").write_text(yaml.safe_dump({"model": "tiny", "data": ["generic:x.jsonl"], "lr": 1e-5}))
    (train / "train_log.jsonl").write_text((staged / "train" / "train_log.jsonl").read_text())
    html = render(read_run(train))
    assert "train: ran" in html and '<section id="training">' in html and "train: did not run" not in html
    assert "steps logged: 6; validations: 2" in html and "data: did not run (not in the recipe)" in html

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    (folder / "data").mkdir()  # a folder named like a stage is not a stage's output
    with pytest.raises(UserError, match="folder: not a run directory"):
        write_report(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["data", "notes.txt"]


def test_stage_table_has_each_stages_time_figure_and_outputs(tmp_path):
    from rewardkit.report.stages import stage_rows
    from rewardkit.training.summary import TrainSummary

    run = write_run(tmp_path / "run")
    cell = lambda acc, lo, hi, n=8: {"accuracy": acc, "ci95": [lo, hi], "pairs": n}  # noqa: E731
    TrainSummary(model=str(run / "train" / "model"), steps=6, best_step=6, best_val_accuracy=0.75, pairs_seen=48,
                 tokens_seen=960, train_seconds_this_process=120.0, world_size=1, train_pairs={}, val_pairs={},
                 heldout={"all": {"model": cell(0.75, 0.409, 0.929), "probe": cell(0.625, 0.306, 0.863),
                                  "length_baseline": cell(0.5, 0.215, 0.785)}}).write(run / "train" / "summary.json")
    seconds = {"fixtures": 1.0, "data": 2.5, "curate": 30.0, "decontaminate": 0.5, "train": 125.0,
               "evaluate": 61.2, "report": 0.8}
    (run / "stages.json").write_text(json.dumps(seconds))
    rows = {r["stage"]: r for r in stage_rows(read_run(run), seconds)}
    assert list(rows) == list(seconds) and rows["train"]["seconds"] == 125.0
    assert rows["fixtures"]["figure"] == "2 sources in their public schemas"  # the marker is not a source
    assert rows["data"]["figure"] == "1 input, 2,299 pairs"  # the Total row is not an input
    assert rows["curate"]["figure"] == "1,161 pairs in the mix"
    assert rows["decontaminate"]["figure"] == "293 of 486 pairs removed"
    assert rows["train"]["figure"] == "held-out 75.0% [40.9, 92.9] of 8 pairs; probe 62.5; longer wins 50.0"
    # RewardBench by hand: Chat = alpacaeval-easy 3/4 = 75.0; Chat Hard = llmbar-natural 1/2 = 50.0
    assert rows["evaluate"]["figure"] == "RewardBench Chat 75.0; RewardBench Chat Hard 50.0"
    assert rows["train"]["outputs"] == str(run / "train" / "model")
    assert rows["evaluate"]["outputs"] == str(run / "evaluate" / "results.json")
    html = render(read_run(run))  # the report's stages section carries the same table
    assert "<td>train</td><td>2:05.0</td><td>held-out 75.0% [40.9, 92.9] of 8 pairs; probe 62.5" in html


def test_stage_table_prints_as_aligned_lines_with_a_total():
    from rewardkit.report.stages import stage_table_lines

    rows = [{"stage": "data", "seconds": 5.1, "figure": "7 inputs, 7,343 pairs", "outputs": "runs/q/data"},
            {"stage": "train", "seconds": 125.25, "figure": "held-out 80.5%", "outputs": "runs/q/train/model"}]
    assert stage_table_lines(rows) == [
        "stage  wall m:s  main figure            outputs",
        "data     0:05.1  7 inputs, 7,343 pairs  runs/q/data",
        "train    2:05.2  held-out 80.5%         runs/q/train/model",
        "total    2:10.3",
    ]
