"""The decontamination settings, one model whether it runs as a curation step or as the pipeline stage
(`rewardkit decontaminate`, the recipe's `decontaminate:` section: the step run over spec strings)."""

from __future__ import annotations

from pydantic import Field

from rewardkit.decontamination.filter import DEFAULT_FIELDS, Fields
from rewardkit.decontamination.index import DEFAULT_N
from rewardkit.options import ReadOptions
from rewardkit.recipe import StrictModel

DEFAULT_BENCHMARK = "rewardbench:"  # allenai/reward-bench, split filtered, from the hub


class DecontaminateConfig(StrictModel):
    """Drop pairs whose checked texts share a word n-gram with benchmark prompts (paper 4.3)."""

    benchmark: list[str] = [DEFAULT_BENCHMARK]
    """Benchmark specs whose prompts are the references: RewardBench (filtered, from the hub) by default;
    any pair dataset (its first user turns) or prompt dataset (XSTest)."""
    n: int = Field(DEFAULT_N, ge=1)
    """Word n-gram length; 7 is the RewardBench maintainers' rule (their ngram_range (7, 13))."""
    fields: Fields = DEFAULT_FIELDS
    """Which texts of a pair are checked: first_user (the maintainers' `prompt` column), all_user (every
    user turn), or all (every prompt turn and both responses)."""


class DecontaminateStage(DecontaminateConfig, ReadOptions):
    """The pipeline's `decontaminate:` section and `rewardkit decontaminate`: the step over `data`."""

    data: list[str] = []
    """Pair specs to decontaminate (in the pipeline: when the recipe has no curate stage, else the curated
    pairs are used)."""
