"""counts.json as a typed model: every number of a curation run, each traceable to its read report, step
or drop log. `rewardkit curate` writes it (rewardkit.curation.run); the mixture report and the run report
(rewardkit.report) read it back through the same model, so the file's contract is written once and checked.
"""

from __future__ import annotations

from pathlib import Path

from rewardkit.data.sources.base import ReadCounts
from rewardkit.recipe import StrictModel


class StepCounts(StrictModel):
    """One step on one stream (rewardkit.curation.steps.StepStats)."""

    label: str
    """The stream: a source name, "Magpie" or "mix"."""
    step: str
    seen: int
    kept: int
    dropped: dict[str, int]
    """Dropped pairs by reason; seen = kept + their sum."""


class DuplicateCount(StrictModel):
    dropped_from: str
    kept_from: str
    n: int


class MagpieGroupCounts(StrictModel):
    """One category group of the Magpie selection (rewardkit.curation.magpie.GroupSummary)."""

    group: str
    fraction: float
    pool: int
    kept: int
    threshold: float | int | None
    """The lowest adjusted score kept (None when nothing is kept)."""


class MagpieCounts(StrictModel):
    groups: dict[str, MagpieGroupCounts]
    categories: dict[str, dict[str, int]]
    """Raw task category -> its pool and kept counts."""


class CurationCounts(StrictModel):
    total: int
    """Pairs in the curated mixture."""
    per_source: dict[str, int]
    """Pairs in the mixture per PreferencePair.source, most first."""
    reads: dict[str, list[ReadCounts]]
    """Per source label (and "Magpie"), the read report of each spec it read."""
    steps: list[StepCounts]
    """Every step in run order."""
    duplicates: list[DuplicateCount]
    """Exact duplicates dropped by the mix, per (dropped from, kept from) source pair."""
    drops_written: int | None
    """Records in drops.jsonl (None: not written)."""
    magpie: MagpieCounts | None
    rm_filter_model: str | None
    """The reward model the RM-agreement filter scored with (a given one or the one trained here)."""
    rm_filter_truncated_pairs: int
    """Pairs the RM-agreement filter cut to max_length and still scored."""

    @classmethod
    def read(cls, path: str | Path) -> CurationCounts:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
