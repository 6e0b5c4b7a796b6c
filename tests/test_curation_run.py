"""`rewardkit curate` end to end on the small fixtures, the mix rules, and the recipe files."""

import json
from collections import Counter
from pathlib import Path

import pytest

from rewardkit.curation.config import CurateConfig
from rewardkit.curation.counts import CurationCounts
from rewardkit.curation.magpie import MAGPIE_SOURCES, kept_count
from rewardkit.curation.mix import DUPLICATE, Dedupe, shuffled
from rewardkit.curation.steps import RunReport, run_steps
from rewardkit.data.io import read_pair_file
from rewardkit.data.pairs import PreferencePair
from rewardkit.recipe import RecipeError, load_recipe
from conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]


def test_dedupe_across_sources_keeps_the_first_and_counts():
    a = PreferencePair([{"role": "user", "content": "q"}], "good", "bad", "src/A", source_id="1")
    same_text_other_source = PreferencePair([{"role": "user", "content": "q"}], "good", "bad", "src/B", source_id="9")
    other = PreferencePair([{"role": "user", "content": "q"}], "bad", "good", "src/B", source_id="2")
    system_turn = PreferencePair([{"role": "system", "content": "q"}], "good", "bad", "src/B", source_id="3")
    dedupe, report = Dedupe(), RunReport()
    kept = list(run_steps([a, same_text_other_source, other, a, system_turn], [dedupe], report=report))
    assert kept == [a, other, system_turn]  # a role differs -> a different pair
    assert report.steps[0].dropped == {DUPLICATE: 2}
    assert dedupe.overlap == {("src/B", "src/A"): 1, ("src/A", "src/A"): 1}


def test_shuffle_is_seeded():
    pairs = [PreferencePair([{"role": "user", "content": str(i)}], "a", "b", "s") for i in range(50)]
    assert shuffled(pairs, 3) == shuffled(pairs, 3) != shuffled(pairs, 4)
    assert sorted(p.prompt[0]["content"] for p in shuffled(pairs, 3)) == sorted(p.prompt[0]["content"] for p in pairs)


def test_recipes_validate_and_reject_unknown_keys(tmp_path):
    cfg = load_recipe(REPO / "recipes" / "skywork-80k.yaml", CurateConfig)
    assert [s.name for s in cfg.sources] == ["HelpSteer2", "OffsetBias", "WildGuardMix"]
    assert [s.kind for s in cfg.sources[2].steps] == ["adversarial_only", "rm_agreement"]
    assert cfg.magpie.offsets == {MAGPIE_SOURCES[3]: 0.1, MAGPIE_SOURCES[2]: 0.05}
    bad = tmp_path / "bad.yaml"
    bad.write_text("magpie:\n  fractons: {Math: 0.3}\n")
    with pytest.raises(RecipeError, match="magpie.fractons: unknown key"):
        load_recipe(bad, CurateConfig)
    bad.write_text("sources:\n  - {name: x, spec: 'helpsteer2:', steps: [{adversarial_only: true, rm_agreement: {model: m}}]}\n")
    with pytest.raises(RecipeError, match="exactly one"):
        load_recipe(bad, CurateConfig)
    bad.write_text("magpie:\n  offsets: {Magpie-Align/Magpie-Air-DPO: 0.1}\n")  # a typo would mean offset 0
    with pytest.raises(RecipeError, match="unknown sources"):
        load_recipe(bad, CurateConfig)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    from rewardkit.data.fixtures import write_fixtures

    out = tmp_path_factory.mktemp("fixtures")
    write_fixtures(out, scale="small", seed=0)
    return out


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from tiny_models import tiny_llama, tiny_tokenizer

    d = tmp_path_factory.mktemp("tiny_rm")
    tiny_llama(seed=1).save_pretrained(d)
    tiny_tokenizer().save_pretrained(d)
    return d


def recipe_for(fixtures: Path, model_dir: Path, out: Path) -> str:
    return f"""
out_dir: {out}
seed: 5
sources:
  - {{name: HelpSteer2, spec: "helpsteer2:{fixtures}/helpsteer2"}}
  - {{name: OffsetBias, spec: "offsetbias:{fixtures}/offsetbias"}}
  - name: WildGuardMix
    spec: "wildguardmix:{fixtures}/wildguardmix"
    steps:
      - adversarial_only: true
      - rm_agreement: {{model: "{model_dir}", dtype: float32, max_length: 128}}
magpie:
  specs:
    - "magpie_ultra:{fixtures}/magpie_ultra"
    - "magpie_pro_llama31:{fixtures}/magpie_pro_llama31"
    - "magpie_pro:{fixtures}/magpie_pro"
    - "magpie_air:{fixtures}/magpie_air"
"""


def test_curate_end_to_end_on_small_fixtures(fixtures, tiny_model_dir, tmp_path):
    from rewardkit.curation.run import curate
    from rewardkit.data.sources import read_pairs as read_spec

    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_for(fixtures, tiny_model_dir, tmp_path / "out"))
    cfg = load_recipe(path, CurateConfig)
    res = curate(cfg)
    out = tmp_path / "out"
    counts = json.loads((out / "counts.json").read_text())
    mixed = list(read_pair_file(res["pairs"]))
    assert len(mixed) == counts["total"] == res["n_pairs"] == len(list(read_pair_file(res["jsonl"])))
    assert CurationCounts.read(out / "counts.json").model_dump(mode="json") == counts  # the typed contract, whole

    # the Magpie groups kept exactly floor(fraction x pool), recomputed from the raw reads
    pool = [p for r in ("magpie_ultra", "magpie_pro_llama31", "magpie_pro", "magpie_air")
            for p in read_spec(f"{r}:{fixtures}/{r}")[0]]
    groups = Counter(p.meta["task_category"] if p.meta["task_category"] in ("Math", "Coding & Debugging") else "Other"
                     for p in pool)
    fractions = {"Math": 0.3, "Coding & Debugging": 0.3, "Other": 0.1}
    assert {g: (s["pool"], s["kept"]) for g, s in counts["magpie"]["groups"].items()} == {
        g: (groups[g], kept_count(fractions[g], groups[g])) for g in fractions}

    # every step's counts add up, and each drop is in drops.jsonl with its step and reason
    drops = [json.loads(line) for line in (out / "drops.jsonl").read_text().splitlines()]
    by = Counter((d["label"], d["step"], d["reason"]) for d in drops)
    for s in counts["steps"]:
        assert s["seen"] == s["kept"] + sum(s["dropped"].values())
        for reason, n in s["dropped"].items():
            assert by[(s["label"], s["step"], reason)] == n
    assert sum(by.values()) == counts["drops_written"] == len(drops)

    # the chain: each step sees what the previous kept; the mix sees every source's survivors
    steps = {(s["label"], s["step"]): s for s in counts["steps"]}
    wg_read = counts["reads"]["WildGuardMix"][0]["pairs"]
    assert steps[("WildGuardMix", "adversarial_only")]["seen"] == wg_read
    assert steps[("WildGuardMix", "rm_agreement")]["seen"] == steps[("WildGuardMix", "adversarial_only")]["kept"]
    last = {s["label"]: s for s in counts["steps"]}  # each label's last step, in run order
    no_steps = counts["reads"]["HelpSteer2"][0]["pairs"] + counts["reads"]["OffsetBias"][0]["pairs"]
    survivors = sum(s["kept"] for label, s in last.items() if label != "mix") + no_steps
    assert steps[("mix", "dedupe")]["seen"] == survivors
    assert steps[("mix", "dedupe")]["kept"] == len(mixed)
    # per source, every pair read (recounted from the raw files) is in the mix or in drops.jsonl, once
    specs = [s.spec for s in cfg.sources] + cfg.magpie.specs
    read = Counter(p.source for spec in specs for p in read_spec(spec)[0])
    dropped = Counter(d["source"] for d in drops)
    assert counts["per_source"] == Counter(p.source for p in mixed) == read - dropped
    assert set(dropped) <= set(read) and all(dropped[s] <= read[s] for s in read)  # no pair dropped twice
    # every kept WildGuard pair is adversarial (and some are kept: the check is not empty)
    wildguard = [p for p in mixed if p.source == "allenai/wildguardmix"]
    assert wildguard and all(p.meta["adversarial"] for p in wildguard)

    # outputs: resolved recipe, report with its tables, Fig 3
    assert load_recipe(out / "recipe.yaml", CurateConfig).seed == 5
    t1 = json.loads((out / "table1.json").read_text())
    assert {r["dataset"]: r["pairs"] for r in t1[:-1]} == counts["per_source"]
    assert t1[-1]["dataset"] == "Total" and t1[-1]["pairs"] == len(mixed)
    report = (out / "report.md").read_text()
    assert "Table 1" in report and "Magpie task categories" in report and "threshold" in report
    assert (out / "fig3_magpie_scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # rerun: same seed, same output order
    res2 = curate(cfg.model_copy(update={"out_dir": tmp_path / "again", "report": cfg.report.model_copy(update={"figures": False})}))
    assert [p.id for p in read_pair_file(res2["jsonl"])] == [p.id for p in mixed]


def test_cli_reports_a_bad_recipe_by_key(tmp_path):
    from typer.testing import CliRunner

    from rewardkit.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {name: x, spec: 'helpsteer2:', stepz: []}\n")
    result = CliRunner().invoke(app, ["curate", str(bad)])
    assert result.exit_code != 0
    assert "sources.0.stepz: unknown key" in str(result.exception) + result.output


def test_rm_agreement_training_is_refused_where_there_are_no_other_sources():
    from rewardkit.curation.config import CurateConfig

    train = {"model": "minilm", "max_steps": 1}
    with pytest.raises(ValueError, match="belongs in a source's steps"):
        CurateConfig.model_validate({"mix_steps": [{"rm_agreement": {"train": train}}]})
    CurateConfig.model_validate({"sources": [{"name": "W", "spec": "wildguardmix:", "steps": [{"rm_agreement": {"train": train}}]}]})


def test_decontamination_as_a_curation_step_gives_the_stages_output_set(tmp_path):
    """One capability: the mix step writes the same removed.jsonl and Table 4 as `rewardkit decontaminate`
    over the same pairs, and its removals are exactly the drop log's decontamination rows."""
    from rewardkit.curation.run import curate
    from rewardkit.decontamination.config import DecontaminateStage
    from rewardkit.decontamination.run import decontaminate

    xstest = f"xstest:{SHARED_DATA / 'xstest'}"
    source = f"{xstest}?max_pairs_per_prompt=1"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"sources: [{{name: XSTest, spec: '{source}'}}]\nmix_steps: [{{decontaminate: {{benchmark: "
                      f"['{xstest}']}}}}]\nreport: {{figures: false, token_sample: 5}}\n")
    res = curate(load_recipe(recipe, CurateConfig), tmp_path / "cur")
    stage = decontaminate(DecontaminateStage(data=[source], benchmark=[xstest]), tmp_path / "stage")
    step_dir = tmp_path / "cur" / "decontaminate" / "mix"
    assert (step_dir / "removed.jsonl").read_bytes() == (tmp_path / "stage" / "removed.jsonl").read_bytes()
    step_table = json.loads((step_dir / "table4.json").read_text())
    assert step_table["table4"] == stage["table4"] and step_table["benchmark_subsets"] == stage["benchmark_subsets"]
    removed = [json.loads(line)["source_id"] for line in (step_dir / "removed.jsonl").read_text().splitlines()]
    drops = [d["source_id"] for d in map(json.loads, res["drops"].read_text().splitlines())
             if d["step"].startswith("decontaminate")]
    # XSTest pairs are RewardBench's xstest prompts: every one with >= 7 tokens is removed; the rest stay
    assert removed == drops and len(removed) == stage["table4"][-1]["contaminated_pairs"] > 0
    assert res["n_pairs"] + len(removed) == stage["table4"][-1]["pairs"]


def test_rm_agreement_trains_its_filter_model_in_an_output_dir_of_its_own(fixtures, tiny_model_dir, tmp_path):
    """Without a given model, curate trains the filter model on the other sources (paper 3.2.2) under
    OUT/rm_filter_model, which it creates and marks as its own before writing the model's training pairs:
    the training's output check must then accept it, and a rerun into the same OUT replaces it."""
    from rewardkit.curation.run import curate
    from rewardkit.errors import OWNED_MARKER

    text = recipe_for(fixtures, tiny_model_dir, tmp_path / "out").replace(
        f'{{model: "{tiny_model_dir}", dtype: float32, max_length: 128}}',
        f'{{train: {{model: "{tiny_model_dir}", max_steps: 2, global_batch_size: 4, micro_batch_size: 4, '
        f'max_length: 128, val_fraction: 0.0, eval_every: 2, save_every: 2, bf16: false}}, dtype: float32, '
        f'max_length: 128}}')
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    for _ in range(2):
        curate(load_recipe(path, CurateConfig))
        run_dir = tmp_path / "out" / "rm_filter_model"
        assert (run_dir / OWNED_MARKER).is_file() and (run_dir / "model" / "config.json").is_file()
        counts = json.loads((tmp_path / "out" / "counts.json").read_text())
        assert counts["rm_filter_model"] == str(run_dir / "model")
        rm = [s for s in counts["steps"] if s["step"] == "rm_agreement"][0]
        assert rm["seen"] == rm["kept"] + sum(rm["dropped"].values()) > 0
