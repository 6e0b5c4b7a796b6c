"""The typed settings of bias-targeted pairs (training's `hard_pairs:`, curation's `hard_pairs` step).

    hard_pairs: {ratio: 0.25, band: [0.5, 0.85], types: [neighbour, longer_worse, swapped]}

Every construction is described, with its failure modes, in docs/hard-pairs.md.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from rewardkit.options import ModelOptions
from rewardkit.recipe import StrictModel

BIAS_TYPES = ("neighbour", "longer_worse", "swapped", "count_mismatch", "earlier_turn")
"""The constructions (rewardkit.hardpairs.build), in the order a pair built twice is credited to."""
SOURCE_PREFIX = "hard_pairs/"
"""A constructed pair's `source` is this + its bias type, so Table 1 and the held-out report count
each type as a source of its own; natural pairs never carry it."""


class JudgeConfig(ModelOptions):
    """Keep only constructed training pairs a judge ranks wrong or near a tie (LLMBar, OffsetBias and
    RRM keep what a current judge still gets wrong). Held-out constructed pairs are never filtered: a
    held-out set chosen by a judge would measure that judge. The judge loads like any scoring model
    (ModelOptions: dtype "auto", a seeded head)."""

    model: str
    """The judge: a reward model dir (e.g. a run's train/probe_model, the frozen probe), an alias or .gguf."""
    max_margin: float = 0.0
    """Keep a pair when judge(chosen) − judge(rejected) ≤ this: 0 keeps the wrong and tied ones; a small
    positive value also keeps near ties."""
    max_length: int = Field(512, ge=8)
    """Tokens per conversation when the judge scores (the prompt is cut from the left)."""
    oversample: float = Field(3.0, ge=1.0)
    """The judge scores a seeded sample of this many times the pairs a type contributes (scoring every
    candidate of a large pool costs minutes per thousand pairs on a CPU)."""


class HardPairsConfig(StrictModel):
    types: list[str] = list(BIAS_TYPES)
    """Which constructions to build (rewardkit.hardpairs.build); each gets an equal share of `ratio`."""
    ratio: float = Field(0.25, ge=0.0)
    """Constructed training pairs per natural training pair, shared equally among `types` (a type with
    fewer candidates gives what it has). 0: none in training, held-out ones still built and reported."""
    band: tuple[float, float] = (0.5, 0.85)
    """A neighbour's prompt has embedding cosine similarity in [low, high] with the prompt: close enough
    to look on-topic, below `high` so it is a different request (near-duplicates are out)."""
    max_val_pairs_per_type: int | None = Field(100, ge=1)
    """Held-out constructed pairs per type (a seeded sample, built from held-out prompts only); each costs
    a forward pass per validation. None: all."""
    embedder: str = "minilm"
    """The sentence embedder of prompts (mean-pooled, L2-normalised): an alias or a local encoder dir."""
    seed: int = 0
    """Seeds which prompts, partners and edits are drawn: the same pool and seed give the same pairs."""
    judge: JudgeConfig | None = None
    """Hard-pair filtering of the training pairs; None: keep all constructed pairs."""

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        unknown = [t for t in types if t not in BIAS_TYPES]
        if unknown:
            raise ValueError(f"unknown bias type(s) {unknown}; known: {list(BIAS_TYPES)}")
        if not types or len(set(types)) != len(types):
            raise ValueError(f"types must name each bias type at most once and at least one; got {types}")
        return types

    @model_validator(mode="after")
    def _band_in_unit_interval(self) -> HardPairsConfig:
        low, high = self.band
        if not (0.0 <= low < high <= 1.0):
            raise ValueError(f"band {list(self.band)} must be [low, high] with 0 <= low < high <= 1")
        return self
