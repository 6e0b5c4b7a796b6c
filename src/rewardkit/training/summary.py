"""summary.json as a typed model: what a training run did and reached. rewardkit.training.loop.cleanup
builds it and writes it; a reader (a benchmark, a later stage) reads it back through the same model.
"""

from __future__ import annotations

from pathlib import Path

from rewardkit.data.io import write_json_atomic
from rewardkit.evaluation.heldout import AccuracyCell, ProbeDifference
from rewardkit.recipe import StrictModel

HELDOUT_FIELDS = {"heldout", "heldout_vs_probe", "heldout_length_reliance", "heldout_margins"}
"""The fields a run without held-out pairs leaves out (and the training log's "done" event omits)."""


class HeldoutMargins(StrictModel):
    """Each held-out pair's margin r_chosen − r_rejected, in validation-set order, for paired comparisons."""

    ids: list[str]
    model: list[float]
    """The exported model's (the best validation's)."""
    probe: list[float] | None
    """The frozen-backbone probe head's at step 0 (head_init: probe), else None."""


class TrainSummary(StrictModel):
    model: str
    """The exported HF model directory."""
    steps: int
    best_step: int
    """The step whose checkpoint was exported (-1: no validation ran)."""
    best_val_accuracy: float | None
    pairs_seen: int
    tokens_seen: int
    train_seconds_this_process: float
    world_size: int
    train_pairs: dict[str, int]
    """Pairs, kept, truncated and dropped by encoding (rewardkit.training.data.EncodeCounts)."""
    val_pairs: dict[str, int]
    dtype: dict[str, str] | None = None
    """The compute dtype and why ({"dtype", "reason"}): TrainConfig.bf16 None lets the hardware choose."""
    stage_seconds: dict[str, float] | None = None
    """Seconds per part of the run: prefix_train / prefix_val (the frozen-prefix caches), features /
    val_features and probe (the LP head), validation_STEP, training (the optimizer steps, all together)."""
    heldout: dict[str, dict[str, AccuracyCell]] | None = None
    """Source (and "all") -> model, length_baseline and (with a probe head) probe accuracy."""
    heldout_vs_probe: dict[str, ProbeDifference] | None = None
    heldout_length_reliance: dict[str, dict[str, float | int | None]] | None = None
    """Source (and "natural", "all") -> pairs with responses of different lengths, the share whose longer
    response is chosen, and the shares where the model (and probe) prefer the longer one
    (rewardkit.evaluation.heldout.length_reliance)."""
    heldout_margins: HeldoutMargins | None = None
    hard_pairs: dict[str, dict[str, float | int | None]] | None = None
    """Bias type -> constructed pairs: candidates, kept by the judge, used in training and held out
    (rewardkit.hardpairs.run.built), when the recipe has hard_pairs."""

    def write(self, path: str | Path) -> None:
        """As JSON; the held-out fields only when they were set."""
        write_json_atomic(path, self.model_dump(mode="json", exclude_unset=True))

    @classmethod
    def read(cls, path: str | Path) -> TrainSummary:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
