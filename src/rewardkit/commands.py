"""The options of the subcommands that add command-line-only settings (where outputs go) to a recipe
section's config, or have no section. rewardkit.cli generates each subcommand's flags from these models
(rewardkit.typed_cli); each field is written once, here or in the config it extends.
"""

from __future__ import annotations

from pathlib import Path

from rewardkit.data.fixtures import FixturesStage
from rewardkit.data.stats import DataStage
from rewardkit.decontamination.config import DecontaminateStage
from rewardkit.evaluation.run import EvaluateConfig
from rewardkit.options import ReadOptions
from rewardkit.recipe import StrictModel
from rewardkit.probing.cache import FeaturesConfig
from rewardkit.probing.run import ProbeRecipe
from rewardkit.training.config import TrainRecipe
from rewardkit.training.plan import DryRunOptions


class StatsCommand(DataStage):
    """`rewardkit data stats SPEC...`"""

    quarantine_dir: Path | None = None
    """Where skipped rows go, one file per spec (default: nowhere, only counted)."""


class ConvertCommand(ReadOptions):
    """`rewardkit data convert SPEC --out FILE`"""

    spec: str
    """READER:PATH_OR_HUB_ID spec."""
    out: Path
    """Output file: .jsonl or .parquet."""
    quarantine: Path | None = None
    """Where skipped rows go (default: OUT.quarantine.jsonl)."""


class FixturesCommand(FixturesStage):
    """`rewardkit data fixtures --out DIR`"""

    out: Path
    """Directory for the fixture files (one folder per source)."""


class DecontaminateCommand(DecontaminateStage):
    """`rewardkit decontaminate --data SPEC --out DIR`"""

    out: Path
    """Output dir: clean.jsonl, removed.jsonl, table4.json."""


class FeaturesCommand(FeaturesConfig):
    """`rewardkit features --data SPEC... --out DIR`"""

    out: Path
    """Cache directory (rebuilt when model, data or settings change)."""


class ProbeCommand(ProbeRecipe):
    """`rewardkit probe --features DIR... --out DIR`"""

    out: Path
    """Output dir: probe.json, and model/ for the `last` pooling."""


class EvaluateCommand(EvaluateConfig):
    """`rewardkit evaluate --model M --data SPEC --out DIR` or `--scores FILE [--out DIR]`"""

    model: list[str] = []
    """Model(s) to evaluate: alias, HF dir/id or .gguf; default smollm2. Repeat to compare models (each
    scored into OUT/model-K/, then side by side)."""
    out: Path | None = None
    """Output directory for results.json (with one --scores: the recomputed one); with several models or
    --scores, also comparison.json (the side-by-side rows)."""
    scores: list[Path] = []
    """A results.json: recompute every number from its per-example scores, without a model. Repeat to
    compare models side by side."""


class TrainCommand(TrainRecipe, DryRunOptions):
    """`rewardkit train RECIPE [key=value ...] [--resume | --dry-run ...]`: the recipe plus the dry-run
    options, which only plan the run (training.dryrun) and are not written into the run's recipe.yaml."""

    def recipe(self) -> TrainRecipe:
        return TrainRecipe.model_validate(self.model_dump(include=set(TrainRecipe.model_fields)))


class ReportCommand(StrictModel):
    """`rewardkit report RUN_DIR`"""

    run_dir: Path
    """A `rewardkit run` out_dir: its report.html is rebuilt from the stage outputs on disk."""
