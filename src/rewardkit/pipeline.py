"""`rewardkit run RECIPE.yaml`: the whole pipeline, each stage a section of one recipe.

Stages run in a fixed order, each only when its section is present:
fixtures -> data stats -> curate -> decontaminate -> train -> evaluate.
Each stage lives in its own module; this file only orders them, times them and hands outputs on. At the
end, out_dir/report.html shows every stage's tables and figures (rewardkit.report), and the console a
table of the stages with their wall time, main figure and outputs (rewardkit.report.stages).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from rewardkit.curation.config import CurateConfig
from rewardkit.decontamination.config import DecontaminateStage
from rewardkit.evaluation.run import EvaluateConfig
from rewardkit.data.fixtures import FixturesStage
from rewardkit.data.stats import DataStage, print_table
from rewardkit.data.io import write_json_atomic, write_text_atomic
from rewardkit.errors import own_output_dir
from rewardkit.recipe import StrictModel, dump_recipe, load_recipe
from rewardkit.training.config import TrainConfig
from rewardkit.models.card import update_card
from rewardkit.models.tokenizers import stage_table
from rewardkit.report import read_run, write_report
from rewardkit.report.outputs import STAGE_TIMES
from rewardkit.report.stages import print_stage_table, stage_rows
from rewardkit.training import train_from_config


class PipelineRecipe(StrictModel):
    out_dir: Path = Path("runs/pipeline")
    """Where every stage writes its outputs; the resolved recipe is saved here as recipe.yaml."""
    fixtures: FixturesStage | None = None
    """Write fixture files in the public schemas (rewardkit.data.fixtures) to out_dir/fixtures/."""
    data: DataStage | None = None
    """Print Table 1 for the listed inputs."""
    curate: CurateConfig | None = None
    """Curate the training mixture (paper 3.2): sources, Magpie selection, WildGuard filters, mix."""
    decontaminate: DecontaminateStage | None = None
    """Remove pairs sharing a word 7-gram with benchmark prompts (the curated pairs when curate ran)."""
    train: TrainConfig | None = None
    """Train a reward model (paper 3.3, 4.1); `data` empty: the decontaminated, else the curated pairs."""
    evaluate: EvaluateConfig | None = None
    """Score benchmarks (RewardBench sections and Table 2, RewardBench 2, RM-Bench, best-of-N) and pair
    datasets; model default: the trained one, else smollm2."""


def run(recipe_path: str | Path, overrides: list[str] | None = None, console: Console | None = None) -> dict:
    return run_recipe(load_recipe(recipe_path, PipelineRecipe, overrides), console)


@contextmanager
def _timed(stage: str, seconds: dict[str, float], out: Path) -> Iterator[None]:
    """Time one stage; OUT/stages.json is rewritten as each stage finishes (a stopped run keeps the rest)."""
    t0 = time.perf_counter()
    yield
    seconds[stage] = round(time.perf_counter() - t0, 1)
    write_json_atomic(out / STAGE_TIMES, seconds)


def run_recipe(recipe: PipelineRecipe, console: Console | None = None) -> dict:
    """Every stage the recipe has, in order; returns each stage's outputs under its name. Ends with a table
    of the stages: wall time, main figure, where the outputs are."""
    console = console or Console()
    out = own_output_dir(recipe.out_dir)
    write_text_atomic(out / "recipe.yaml", dump_recipe(recipe))
    (out / STAGE_TIMES).unlink(missing_ok=True)  # a rerun into the same out_dir times only its own stages
    results: dict = {}
    seconds: dict[str, float] = {}

    if recipe.fixtures is not None:
        with _timed("fixtures", seconds, out):
            from rewardkit.data.fixtures import write_fixtures

            console.rule("[bold]fixtures: sources in the public schemas")
            results["fixtures"] = write_fixtures(out / "fixtures", scale=recipe.fixtures.scale, seed=recipe.fixtures.seed)
            console.print(", ".join(f"{k}: {v}" for k, v in results["fixtures"].items()), highlight=False)

    if recipe.data is not None:
        with _timed("data", seconds, out):
            console.rule("[bold]data: Table 1 of the inputs")
            rows = stage_table(recipe.data, out / "data")
            print_table(rows, console)
            write_json_atomic(out / "data" / "table1.json", rows)  # for the run report
            results["data"] = rows

    if recipe.curate is not None:
        with _timed("curate", seconds, out):
            from rewardkit.curation.run import curate

            console.rule("[bold]curate: the training mixture")
            results["curate"] = curate(recipe.curate, recipe.curate.out_dir or out / "curate", console)

    if recipe.decontaminate is not None:
        with _timed("decontaminate", seconds, out):
            from rewardkit.decontamination.run import decontaminate

            stage = recipe.decontaminate
            console.rule("[bold]decontaminate: Table 4")
            if "curate" in results:
                stage = stage.model_copy(update={"data": [f"pairs:{results['curate']['pairs']}"]})
            elif not stage.data and recipe.train is not None and recipe.train.data:
                stage = stage.model_copy(update={"data": recipe.train.data, "on_bad_row": recipe.train.on_bad_row})
            results["decontaminate"] = {**decontaminate(stage, out / "decontaminate", console), "specs": stage.data}

    if recipe.train is not None:
        with _timed("train", seconds, out):
            results["train"] = _train_stage(recipe, out, results, console)

    if recipe.evaluate is not None:
        with _timed("evaluate", seconds, out):
            from rewardkit.evaluation.run import run_stage

            console.rule("[bold]evaluate: RewardBench (Table 2), RewardBench 2, RM-Bench, best-of-N")
            results["evaluate"] = run_stage(recipe.evaluate, out / "evaluate", results, console)

    with _timed("report", seconds, out):
        results["report"] = write_report(out)
    console.print(f"report: {results['report']}", highlight=False)
    results["stages"] = stage_rows(read_run(out), seconds)
    print_stage_table(results["stages"], console)
    return results


def _train_stage(recipe: PipelineRecipe, out: Path, results: dict, console: Console) -> dict:
    """Train on the decontaminated (or curated) pairs, or on the train section's own `data`. Data named in
    the train section goes through the recipe's decontaminate stage too (its benchmarks, n and fields;
    the stage itself checks it when there is no curated mix, else a second pass writes
    out/decontaminate-train/): the benchmark rows are for reporting only, so no recipe trains on a pair
    that shares a prompt n-gram with them, whichever section names the data."""
    console.rule("[bold]train: the reward model")
    cfg, checked = recipe.train, None  # checked: the decontamination the training pairs went through
    upstream = results.get("decontaminate") or results.get("curate")
    if not cfg.data and upstream:
        cfg = cfg.model_copy(update={"data": [f"pairs:{upstream['pairs']}"]})
        checked = results.get("decontaminate")
    elif cfg.data and recipe.decontaminate is not None:
        checked = results["decontaminate"]
        if checked["specs"] != cfg.data:  # the stage checked other data (the curated mix): check these too
            from rewardkit.decontamination.run import decontaminate

            stage = recipe.decontaminate.model_copy(update={"data": cfg.data, "on_bad_row": cfg.on_bad_row})
            checked = decontaminate(stage, out / "decontaminate-train", console)
        cfg = cfg.model_copy(update={"data": [f"pairs:{checked['pairs']}"]})
    model_dir = train_from_config(cfg, out / "train")
    if checked is not None:  # the model card names the benchmarks its training pairs were checked against
        update_card(model_dir, decontamination={k: checked.get(k) for k in ("n", "fields", "benchmarks", "table4")})
    return {"model": model_dir}
