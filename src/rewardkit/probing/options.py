"""Typed probe settings (kept free of torch so recipes load fast)."""

from __future__ import annotations

from pydantic import Field, model_validator

from rewardkit.options import DEFAULT_LOSS
from rewardkit.recipe import StrictModel


class ProbeFit(StrictModel):
    """How a probe is fitted (the loss comes from the caller: a probe recipe or the training recipe)."""

    l2: float = Field(0.05, ge=0)
    """Penalty l2/2 · |w|² on the standardized weight, added to the mean pair loss (sklearn's logistic regression on the 2N mirrored differences ±(x_c − x_r): C = 1/(2·N·l2))."""
    lr: float = Field(0.02, gt=0)
    """Adam learning rate."""
    max_epochs: int = Field(600, ge=1)
    """Full passes over the training pairs (one Adam step each when batch_size is None)."""
    batch_size: int | None = Field(None, ge=1)
    """Pairs per step; None: full batch."""
    eval_every: int = Field(10, ge=1)
    """Validate every this many epochs."""
    patience: int | None = Field(10, ge=1)
    """Stop after this many validations without a better validation accuracy; None: run every epoch."""
    standardize: bool = True
    """Scale features by the training set's mean and std before the penalty (folded back on export)."""
    seed: int = 0
    """Seeds the initial weight and the mini-batch order."""


class ProbeOptions(ProbeFit):
    loss: str = DEFAULT_LOSS
    """A name in rewardkit.losses.LOSSES."""
    loss_params: dict[str, float] = {}
    """Keyword parameters of the loss."""

    @model_validator(mode="after")
    def _check_loss(self) -> ProbeOptions:
        from rewardkit.losses import check_loss

        check_loss(self.loss, self.loss_params)
        return self
