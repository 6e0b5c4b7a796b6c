"""The typed curation recipe (`rewardkit curate RECIPE.yaml`, the pipeline's `curate:` section).

Read top to bottom it is the paper's section 3.2: the sources that come as they are, the ones that get
steps (WildGuardMix: adversarial only, then RM agreement), the Magpie selection, then steps over the
whole mix (decontamination) and the seeded shuffle. See recipes/skywork-80k.yaml.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from rewardkit.curation.magpie import DEFAULT_FRACTIONS, DEFAULT_OFFSETS, MAGPIE_SOURCES, OTHER
from rewardkit.data.stats import TOKEN_SAMPLE
from rewardkit.decontamination.config import DecontaminateConfig
from rewardkit.hardpairs.config import HardPairsConfig
from rewardkit.options import ReadOptions, ScoringOptions
from rewardkit.recipe import StrictModel, with_default
from rewardkit.training.config import TrainConfig


class RMAgreementConfig(ScoringOptions):
    """Keep pairs a reward model orders correctly (chosen strictly higher); ties dropped and counted.
    Scored with the shared scoring options, except that max_length defaults to 1024 here: the filter
    scores whole training sources, whose long tail would otherwise run to the model's full context."""

    model: str | None = None
    """The scoring model: an alias ("smollm2", "minilm"), HF id, local dir or .gguf file. Exactly one of
    `model` and `train`."""
    train: TrainConfig | None = None
    """Train the scoring model first, on every source of this recipe that has no rm_agreement step
    (after their own steps and the Magpie selection): the paper's "reward model trained on the other
    datasets". Its `data` is filled in by curation."""
    max_length: int | None = with_default(ScoringOptions, "max_length", 1024)

    @model_validator(mode="after")
    def _one_model(self) -> RMAgreementConfig:
        if (self.model is None) == (self.train is None):
            raise ValueError("rm_agreement needs exactly one of `model` (a path or alias) and `train`")
        return self


class StepConfig(StrictModel):
    """One step; set exactly one key."""

    adversarial_only: bool | None = None
    """Keep only pairs whose prompt is adversarial (meta["adversarial"]; WildGuardMix)."""
    rm_agreement: RMAgreementConfig | None = None
    decontaminate: DecontaminateConfig | None = None
    hard_pairs: HardPairsConfig | None = None
    """Add bias-targeted pairs built from this stream's pairs (rewardkit.hardpairs, docs/hard-pairs.md):
    ratio x its pairs, each type its own source in Table 1. No hold-out is drawn here: a curated mix that
    has them is validated on val_data (training's own `hard_pairs` builds them after its hold-out)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> StepConfig:
        given = [k for k in type(self).model_fields if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"a step sets exactly one of {list(type(self).model_fields)}; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) not in (None, False))


class SourceConfig(StrictModel):
    name: str
    """The label in counts and reports, e.g. "WildGuardMix"."""
    spec: str
    """READER:LOCATION[?options] (rewardkit.data.sources); an empty location is the reader's hub id."""
    steps: list[StepConfig] = []
    """Applied in order to this source's pairs."""


class MagpieConfig(StrictModel):
    """Paper 3.2.1: one pool of the four Magpie sets, ranked per task-category group."""

    specs: list[str] = [f"{r}:" for r in ("magpie_ultra", "magpie_pro_llama31", "magpie_pro", "magpie_air")]
    """The Magpie spec strings; their pairs carry meta score_chosen, score_rejected, task_category."""
    offsets: dict[str, float] = dict(DEFAULT_OFFSETS)
    """Subtracted from a pair's mean ArmoRM score, keyed by the pair's source (hub id)."""
    fractions: dict[str, float] = dict(DEFAULT_FRACTIONS)
    """Share kept per group, floor(fraction x group size); the keys are the groups."""
    other_group: str = OTHER
    """Categories not named in `fractions` (and a missing category) are merged into this group."""
    steps: list[StepConfig] = []
    """Applied to the selected Magpie pairs."""

    @model_validator(mode="after")
    def _known_offsets(self) -> MagpieConfig:
        unknown = sorted(set(self.offsets) - set(MAGPIE_SOURCES))
        if unknown:  # a typo would silently give a source offset 0
            raise ValueError(f"offsets for unknown sources {unknown}; Magpie sources are {list(MAGPIE_SOURCES)}")
        return self


class ReportConfig(StrictModel):
    tokenizer: str | None = None
    """Tokenizer for Table 1's token counts (rewardkit.data.stats.pair_stats); None: its default."""
    token_sample: int | None = Field(TOKEN_SAMPLE, ge=1)
    """Table 1's averages (turns, tokens) over a seeded sample of at most this many pairs per source;
    pair counts are always exact. None: tokenize every pair (~90 s for 80K pairs on 2 cores)."""
    figures: bool = True
    """Write Fig 3 (Magpie score distributions before/after the offsets) as PNG."""


class CurateConfig(ReadOptions):
    out_dir: Path | None = None
    """Output folder; in the pipeline, default <out_dir>/curate."""
    seed: int = 0
    """Seeds the shuffle of the final mix."""
    sources: list[SourceConfig] = []
    """Sources in mix order (an earlier source keeps a duplicate pair)."""
    magpie: MagpieConfig | None = None
    """The Magpie selection; mixed after `sources`."""
    mix_steps: list[StepConfig] = []
    """Applied to the whole mix after duplicate removal (e.g. decontamination)."""
    write_drops: bool = True
    """Write every dropped pair's id and provenance with its label, step and reason to drops.jsonl."""
    drops_with_pairs: bool = False
    """Also write each dropped pair's full content there (large: a full Magpie run drops ~300K pairs)."""
    report: ReportConfig = ReportConfig()
    """The mixture report: Table 1, the Magpie category table and thresholds, Fig 3."""

    @model_validator(mode="after")
    def _unique_source_names(self) -> CurateConfig:
        # Names key the counts, the drop log and the mix order; two sources with one name would merge
        # (and the second would overwrite the first's pairs).
        names = [s.name for s in self.sources] + (["Magpie"] if self.magpie is not None else [])
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"source names must be unique; given more than once: {twice}"
                             + (" ('Magpie' is the magpie section's name)" if "Magpie" in twice else ""))
        return self

    @model_validator(mode="after")
    def _train_only_on_a_source(self) -> CurateConfig:
        # rm_agreement's `train` learns from the *other* sources; in the Magpie or mix steps there are
        # none, and the model would be trained on nothing.
        steps = (self.magpie.steps if self.magpie else []) + self.mix_steps
        if any(s.rm_agreement is not None and s.rm_agreement.train is not None for s in steps):
            raise ValueError("rm_agreement with `train` belongs in a source's steps (it trains on the other "
                             "sources); in magpie.steps or mix_steps give a `model` instead")
        return self
