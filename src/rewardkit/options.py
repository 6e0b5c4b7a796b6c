"""Option groups that several commands and recipe sections share, each field written once.

A config takes a group by inheriting it (``class EvaluateConfig(ScoringOptions, ReadOptions)``), so a
default or a docstring lives here only and `--help` (rewardkit.typed_cli) shows the same text.
Light on purpose: importing it imports neither torch nor a reader.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rewardkit.recipe import StrictModel

OnBadRow = Literal["error", "skip"]
"""What a read does with a bad row (rewardkit.data.sources.base.ReadContext)."""
DEFAULT_ON_BAD_ROW: OnBadRow = "error"
"""Stop at the first bad row, naming its file, line and field: rewardkit never guesses."""
DEFAULT_MODEL = "smollm2"
"""The backbone every command loads when none is named: the shipped SmolLM2-135M-Instruct GGUF
(rewardkit.models.loading.ALIASES)."""
OnLong = Literal["truncate", "drop"]
"""A conversation longer than its token budget: cut from the prompt's left, or leave the pair out
(rewardkit.models.tokenization.encode_pair)."""
DEFAULT_ON_LONG: OnLong = "truncate"
ValSplit = Literal["pair", "prompt"]
"""How a hold-out is drawn: single pairs, or whole prompts (HoldOutOptions; rewardkit.data.split)."""
ScoringDtype = Literal["auto", "bfloat16", "float32"]
"""Weights dtype for scoring and feature passes; "auto": bf16 where the hardware runs it natively
(rewardkit.models.hardware)."""
DEFAULT_DTYPE: ScoringDtype = "auto"
"""Every dtype that loads a model for scoring or features defaults to this (ModelOptions.dtype says why)."""
DEFAULT_LOSS = "bradley_terry"
"""The paper's loss (a name in rewardkit.losses.LOSSES): training and probes default to it."""
DEFAULT_BATCH_TOKENS = 8192
"""Padded tokens per forward pass: 8 x 1024 keeps SmolLM2's activations small on CPU and fills a GPU."""


class ReadOptions(StrictModel):
    on_bad_row: OnBadRow = DEFAULT_ON_BAD_ROW
    """Bad input rows: "error" stops at the first, naming file, line and field; "skip" counts them by
    reason and quarantines them (as JSONL, beside the command's outputs)."""


class ModelOptions(StrictModel):
    """How a reward model is loaded for scoring (`rewardkit serve` takes these; its requests say the rest)."""

    dtype: ScoringDtype = DEFAULT_DTYPE
    """Weights dtype for scoring. "auto": bf16 where the hardware runs it natively (AMX or avx512_bf16 CPUs,
    CUDA with bf16), fp32 elsewhere, where emulated bf16 is slower (rewardkit.models.hardware, docs/speed.md);
    bf16 and fp32 rewards ordered every checked pair alike (docs/machine-notes.md, "Speed")."""
    seed: int | None = 0
    """Seeds a head the model lacks (a bare backbone gets a fresh one), so reruns give the same numbers;
    a trained reward model's own head is loaded and unaffected. None: unseeded."""


class ScoringOptions(ModelOptions):
    """How a reward model scores: evaluate, score and the RM-agreement filter share these."""

    max_length: int | None = Field(None, ge=1)
    """Tokens per conversation; longer ones are truncated (the prompt is cut from the left, the response
    kept) and counted. None: the model's max positions."""
    batch_tokens: int = Field(DEFAULT_BATCH_TOKENS, gt=0)
    """Padded tokens per forward pass (sequences are sorted by length and packed up to this budget)."""
    pad_to_multiple: int = Field(1, ge=1)
    """Pad each forward pass's sequence length up to a multiple of this (padding is masked: in fp32 the scores
    are the same; bf16 kernels round differently per shape). oneDNN builds a kernel per matrix shape on CPUs,
    ~25 ms each for MiniLM, so when batches come in new shapes, e.g. a server's, fewer distinct lengths pay it less."""

    def score_kw(self) -> dict[str, Any]:
        """Keyword arguments of RewardModel.score / score_pairs."""
        return {"max_length": self.max_length, "batch_tokens": self.batch_tokens,
                "pad_to_multiple": self.pad_to_multiple}


class HoldOutOptions(StrictModel):
    val_split: ValSplit = "pair"
    """How the held-out share is drawn (rewardkit.data.split.held_out): "pair", a random sample of pairs;
    "prompt", whole prompts, so no held-out pair shares its prompt or a response with a training pair
    (sources with several pairs per prompt, e.g. HelpSteer's 387 sample pairs over 107 prompts, leak
    through shared responses otherwise: docs BENCHMARKS.md, "Probes: held-out split by prompt")."""
