"""results.json as a typed model: what `rewardkit evaluate` scored and every number computed from it.
rewardkit.evaluation.run builds it and writes it; the run report (rewardkit.report) reads it back through
the same model. (`evaluate --scores FILE` reads score files more leniently: any file with per-example
scores, checked by rewardkit.evaluation.checks, not only the ones rewardkit wrote.)
"""

from __future__ import annotations

from typing import Any

from rewardkit.recipe import StrictModel


class SubsetAccuracy(StrictModel):
    n: int
    correct: int
    accuracy: float


class DatasetAccuracy(StrictModel):
    n: int
    accuracy: float
    ci95: list[float]
    """Bootstrap 95% interval of the accuracy."""


class EvaluationResults(StrictModel):
    model: str
    settings: dict[str, Any]
    """The resolved EvaluateConfig."""
    truncated_pairs: dict[str, int]
    """Per pair spec: pairs cut to max_length (the prompt from the left)."""
    truncated_conversations: dict[str, int]
    """Per set spec: conversations cut to max_length."""
    read: dict[str, str]
    """Per spec: its read report, as one line."""
    processes: int
    dtype: str | None = None
    """The dtype the model scored in (with dtype auto, what the hardware chose: rewardkit.models.hardware)."""
    seconds: float | None = None
    """Wall seconds from the model load to the last score."""
    examples: list[dict[str, Any]]
    """Every scored pair: id, subset, dataset, score_chosen, score_rejected (rewardkit.evaluation.checks)."""
    # The pair summary (rewardkit.evaluation.rewardbench.summarize), when there are pairs:
    subsets: dict[str, SubsetAccuracy] | None = None
    datasets: dict[str, DatasetAccuracy] | None = None
    # ... and, when RewardBench subsets are among them, its sections (fractions) and Table 2 row (percent):
    sections: dict[str, float | None] | None = None
    prior_sets: float | None = None
    overall: float | None = None
    overall_present_sections: float | None = None
    overall_official_zero_fill: float | None = None
    table2: dict[str, float | None] | None = None
    # One section per set benchmark (rewardkit.evaluation.sets.SUMMARIZERS): its examples and summary.
    rewardbench2: dict[str, Any] | None = None
    rmbench: dict[str, Any] | None = None
    best_of_n: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """What results.json holds: the summary fields only where they were computed."""
        return self.model_dump(mode="json", exclude_unset=True)
