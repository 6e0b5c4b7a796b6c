"""Read a run directory's stage outputs from disk (the I/O half of the HTML report).

Where each stage of `rewardkit run` writes (rewardkit.pipeline): OUT/data/table1.json, OUT/curate/
(counts.json, table1.json, fig3_magpie_scores.png; or the curate section's own out_dir),
OUT/decontaminate/table4.json, OUT/train/train_log.jsonl and summary.json, OUT/evaluate/results.json; the
stages' wall times in OUT/stages.json. A stage counts as run
when its outputs are there; a stage the recipe names whose outputs are missing is reported as unfinished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rewardkit.curation.counts import CurationCounts
from rewardkit.curation.magpie import FIG3
from rewardkit.errors import UserError, validation_message
from rewardkit.training.runlog import LOG_NAME
from rewardkit.evaluation.results import EvaluationResults
from rewardkit.training.summary import TrainSummary

M = TypeVar("M", bound=BaseModel)

STAGES = ("fixtures", "data", "curate", "decontaminate", "train", "evaluate")
"""The pipeline's stages, in run order."""
STAGE_TIMES = "stages.json"
"""OUT/stages.json: {stage: wall seconds} in run order, written by the pipeline as each stage finishes."""


@dataclass
class RunOutputs:
    """Everything the report shows, as read from one run directory."""

    run_dir: Path
    recipe: dict[str, Any] = field(default_factory=dict)
    """The resolved recipe.yaml (empty when missing)."""
    data_table1: list[dict] | None = None
    counts: CurationCounts | None = None
    """curate/counts.json: reads per source, kept and dropped per step and reason."""
    curate_table1: list[dict] | None = None
    fig3_png: bytes | None = None
    table4: dict | None = None
    train_log: list[dict] | None = None
    train_summary: TrainSummary | None = None
    """train/summary.json: held-out accuracy of the model, its probe and "longer wins"."""
    results: EvaluationResults | None = None
    """evaluate/results.json: settings, every example's two scores, the RewardBench summary."""
    stage_seconds: dict[str, float] | None = None
    """stages.json: each stage's wall time, in run order."""

    def ran(self) -> dict[str, bool]:
        """Stage -> whether its outputs are on disk."""
        return {
            "fixtures": (self.run_dir / "fixtures").is_dir(),
            "data": self.data_table1 is not None,
            "curate": self.counts is not None,
            "decontaminate": self.table4 is not None,
            "train": self.train_log is not None,
            "evaluate": self.results is not None,
        }


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None


def _typed(path: Path, model: type[M]) -> M | None:
    """A stage output read through the model its stage writes it with; a file that breaks the
    contract is one error naming the file and the field."""
    raw = _json(path)
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ValueError(f"{path}: {validation_message(e)}") from None


def _jsonl(path: Path) -> list[dict] | None:
    """Records of a JSON-lines log; a last line cut short by a kill is left out (the log says so by its end)."""
    if not path.is_file():
        return None
    records = []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) and not line.endswith("\n"):
                break
            raise ValueError(f"{path}: line {i} is not a JSON record") from None
    return records


STAGE_OUTPUTS = ("data/table1.json", "curate/counts.json", "decontaminate/table4.json", "train/train_log.jsonl",
                 "evaluate/results.json")


def run_kind(run_dir: Path, recipe: dict[str, Any]) -> str:
    """"pipeline" (`rewardkit run`'s out_dir: a recipe naming stages, or a stage's outputs), "train"
    (`rewardkit train`'s: its recipe and log at the top) or "evaluate" (`evaluate --out`'s results.json);
    a folder that is none of them is refused, not written into."""
    if "lr" in recipe or (run_dir / LOG_NAME).is_file():
        return "train"
    if set(STAGES) & set(recipe) or any((run_dir / name).is_file() for name in STAGE_OUTPUTS):
        return "pipeline"
    if (run_dir / "results.json").is_file():
        return "evaluate"
    raise UserError(f"{run_dir}: not a run directory (no recipe.yaml or stage outputs of `rewardkit run`, no "
                    "train_log.jsonl of `rewardkit train`, no results.json of `rewardkit evaluate`)")


def curate_dir(run_dir: Path, recipe: dict[str, Any]) -> Path:
    section = recipe.get("curate") or {}
    return Path(section["out_dir"]) if section.get("out_dir") else run_dir / "curate"


def read_run(run_dir: str | Path) -> RunOutputs:
    """Every stage output the report uses; what is missing stays None."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    recipe_path = run_dir / "recipe.yaml"
    try:
        recipe = (yaml.safe_load(recipe_path.read_text(encoding="utf-8")) or {}) if recipe_path.is_file() else {}
    except yaml.YAMLError:
        raise ValueError(f"{recipe_path}: invalid YAML") from None
    if not isinstance(recipe, dict):
        raise ValueError(f"{recipe_path}: not a recipe (a mapping of keys)")
    kind = run_kind(run_dir, recipe)
    if kind == "train":  # `rewardkit train`'s out_dir: the train stage alone, its outputs at the top
        return RunOutputs(run_dir=run_dir, recipe={"train": recipe}, train_log=_jsonl(run_dir / LOG_NAME))
    if kind == "evaluate":  # `rewardkit evaluate --out DIR`
        return RunOutputs(run_dir=run_dir, recipe={"evaluate": {}},
                          results=_typed(run_dir / "results.json", EvaluationResults))
    cur = curate_dir(run_dir, recipe)
    fig3 = cur / FIG3
    return RunOutputs(
        run_dir=run_dir,
        recipe=recipe,
        data_table1=_json(run_dir / "data" / "table1.json"),
        counts=_typed(cur / "counts.json", CurationCounts),
        curate_table1=_json(cur / "table1.json"),
        fig3_png=fig3.read_bytes() if fig3.is_file() else None,
        table4=_json(run_dir / "decontaminate" / "table4.json"),
        train_log=_jsonl(run_dir / "train" / "train_log.jsonl"),
        train_summary=_typed(run_dir / "train" / "summary.json", TrainSummary),
        results=_typed(run_dir / "evaluate" / "results.json", EvaluationResults),
        stage_seconds=_json(run_dir / STAGE_TIMES),
    )
