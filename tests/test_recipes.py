"""Every recipe in recipes/ loads and validates against the model of the command that runs it, names
only local data that exists, and survives its own resolved dump (what a run writes as recipe.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rewardkit.curation.config import CurateConfig
from rewardkit.data.sources import parse_spec
from rewardkit.pipeline import PipelineRecipe
from rewardkit.recipe import dump_recipe, load_recipe
from rewardkit.training import TrainRecipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {  # file -> the model of the command that runs it (its header comment names the command)
    "quickstart.yaml": PipelineRecipe,       # rewardkit run
    "cpu-smollm2.yaml": PipelineRecipe,      # rewardkit run
    "skywork-80k.yaml": CurateConfig,        # rewardkit curate
    "train-hh-smollm2.yaml": TrainRecipe,    # rewardkit train
    "skywork-llama3.1-8b.yaml": TrainRecipe,
    "skywork-gemma2-27b.yaml": TrainRecipe,
}
COMMANDS = {PipelineRecipe: "rewardkit run", CurateConfig: "rewardkit curate", TrainRecipe: "rewardkit train"}


def test_every_recipe_file_is_checked_here():
    assert sorted(p.name for p in (ROOT / "recipes").glob("*.yaml")) == sorted(RECIPES)


def specs_in(node) -> list[str]:
    """Every string in a loaded recipe that parses as a data spec with a local location."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in specs_in(v)]
    if isinstance(node, list):
        return [s for v in node for s in specs_in(v)]
    if isinstance(node, str) and ":" in node and not node.startswith(("http", "/")):
        try:
            location = parse_spec(node).location
        except ValueError:
            return []
        return [location] if location.startswith(("../", "./", "data/", "runs/")) else []
    return []


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_loads_validates_and_survives_its_resolved_dump(name, tmp_path):
    path, model = ROOT / "recipes" / name, RECIPES[name]
    recipe = load_recipe(path, model)
    assert COMMANDS[model] in path.read_text(encoding="utf-8").split("\n\n")[0]  # the header names its command
    again = tmp_path / "recipe.yaml"
    again.write_text(dump_recipe(recipe), encoding="utf-8")
    assert load_recipe(again, model) == recipe
    # local data the recipe reads exists (runs/...: written by an earlier stage of the same recipe)
    missing = [loc for loc in specs_in(yaml.safe_load(path.read_text(encoding="utf-8")))
               if not loc.startswith("runs/") and not (ROOT / loc.split("?")[0]).exists()]
    assert missing == []


def test_the_recipes_say_what_they_promise():
    """A few facts the recipes' comments state, read back from the validated models."""
    cpu = load_recipe(ROOT / "recipes/cpu-smollm2.yaml", PipelineRecipe)
    assert cpu.train is not None and cpu.train.head_init == "probe" and cpu.evaluate is not None
    hh = load_recipe(ROOT / "recipes/train-hh-smollm2.yaml", TrainRecipe)
    assert hh.model == "smollm2" and len(hh.data) == 4 and hh.on_bad_row == "skip"
    assert specs_in({"data": hh.data}) == [parse_spec(s).location for s in hh.data]  # the existence check sees them
    big = [load_recipe(ROOT / f"recipes/{n}", TrainRecipe) for n in ("skywork-llama3.1-8b.yaml", "skywork-gemma2-27b.yaml")]
    assert [(r.global_batch_size, r.epochs, r.loss) for r in big] == [(128, 2, "bradley_terry")] * 2
