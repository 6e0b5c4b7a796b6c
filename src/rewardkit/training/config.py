"""The typed training recipe: every setting of a run, one docstring each, from which `--help` comes.

Defaults follow the Skywork-Reward paper's section 4.1 where they carry over (AdamW with weight decay
1e-3, cosine schedule, Bradley-Terry loss); the full-scale values (global batch 128, 2 epochs, lr 2e-6
for 8B / 1e-6 for 27B) are in recipes/skywork-*.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from rewardkit.hardpairs.config import HardPairsConfig
from rewardkit.options import DEFAULT_LOSS, DEFAULT_MODEL, DEFAULT_ON_LONG, HoldOutOptions, OnLong, ReadOptions
from rewardkit.probing.options import ProbeFit
from rewardkit.recipe import StrictModel


class LoraOptions(StrictModel):
    """Low-rank adapters via peft; the score head is always trained in full (task SEQ_CLS)."""

    r: int = Field(16, ge=1)
    """Adapter rank."""
    alpha: float = 32.0
    """Adapter scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Dropout on the adapter input."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names that get adapters, or "all-linear"."""


class TrainConfig(ReadOptions, HoldOutOptions):
    model: str = DEFAULT_MODEL
    """Backbone: an alias ("smollm2", "minilm"), an HF id, a local dir or a .gguf file
    (rewardkit.models.loading.load_reward_model); a fresh one-score head is put on it, drawn from `seed`."""
    data: list[str] = []
    """Training pairs as spec strings (READER:LOCATION). In the pipeline, empty means the curate
    stage's output."""
    val_data: list[str] = []
    """Validation pairs as spec strings; empty: hold out `val_fraction` of `data` instead."""
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of `data` held out for validation (seeded by `seed`) when `val_data` is empty; 0: none."""
    max_pairs: int | None = Field(None, ge=1)
    """Use only this many training pairs (a seeded sample, taken after the validation split)."""
    max_val_pairs: int | None = Field(None, ge=1)
    """Validate on only this many of the held-out pairs (a seeded sample): each validation costs a
    forward pass over all of them."""
    hard_pairs: HardPairsConfig | None = None
    """Add bias-targeted pairs built from the data itself (rewardkit.hardpairs; docs/hard-pairs.md):
    after the hold-out, training pairs are constructed from the training side only and held-out ones
    from the held-out side only (each side whole, before the max_pairs / max_val_pairs samples); the
    held-out report gives each bias type its own row. Needs whole prompts held out (val_split: prompt)
    or val_data."""
    max_length: int = Field(1024, ge=8)
    """Token budget of each conversation (prompt + response) after the chat template."""
    on_long: OnLong = DEFAULT_ON_LONG
    """Conversations longer than max_length: "truncate" cuts the prompt from the left and keeps the
    response (rewardkit.models.tokenization); "drop" leaves the pair out. Both are counted in the log."""

    epochs: int = Field(2, ge=1)
    """Passes over the training pairs (paper: 2)."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (caps `epochs`); also fixes the schedule's length."""
    global_batch_size: int = Field(128, ge=1)
    """Pairs per optimizer step over all processes (paper: 128) = micro_batch_size x gradient
    accumulation x processes; the accumulation is derived and must come out whole."""
    micro_batch_size: int = Field(8, ge=1)
    """Pairs per forward pass per process (each pair is two sequences, or one packed sequence with
    prompt sharing)."""
    lr: float = Field(2e-6, gt=0)
    """Peak learning rate (paper: 2e-6 for 8B, 1e-6 for 27B)."""
    weight_decay: float = Field(1e-3, ge=0)
    """AdamW weight decay on matrices (not biases or norms) (paper: 1e-3)."""
    adam_betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    """AdamW betas."""
    adam_eps: float = Field(1e-8, gt=0)
    """AdamW epsilon."""
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    """Learning-rate decay after warmup (paper: cosine), down to 0 at the last step."""
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    """Share of the steps with linear warmup from 0."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this; None: no clipping."""

    loss: str = DEFAULT_LOSS
    """A name in rewardkit.losses.LOSSES."""
    loss_params: dict[str, float] = {}
    """Keyword parameters of the loss (e.g. {gamma: 2.0} for focal); unknown names are rejected."""
    margin_field: str | None = None
    """Per-pair margin m (losses with a `margin`: bradley_terry −log σ(Δ − m), hinge, margin_mse), read
    from each pair's meta under this key, e.g. helpfulness_margin for HelpSteer2; None: loss_params."""
    seed: int = 42
    """Seeds the head initialisation, the validation split, the pair sample and the batch order."""

    bf16: bool | None = None
    """bf16 for the forward and backward (rewards and the loss are computed in fp32; the weights' dtype:
    bf16_weights). None (default): bf16 where the hardware runs it natively, fp32 elsewhere, where emulated
    bf16 is slower (rewardkit.models.hardware; the choice and its reason are logged and in summary.json);
    true / false: obeyed."""
    bf16_weights: bool | None = None
    """With bf16: hold the model's weights in bf16 (no cast of every fp32 weight in each micro-batch's
    forward and backward) and fp32 master copies in the optimizer, which applies the AdamW updates to the
    masters and copies them back rounded (rewardkit.training.precision). Gradients are accumulated in
    bf16. Checkpoints carry the masters; the exported model holds them rounded to bf16. None (default):
    on, except under FSDP or DeepSpeed, whose own mixed precision keeps fp32 shards; true: required
    (error under FSDP/DeepSpeed); false: autocast over fp32 weights."""
    optimizer_impl: Literal["fused", "foreach", "for_loop"] = "fused"
    """How torch runs AdamW: "fused" (one kernel over all tensors), "foreach" (batched ops over lists of
    tensors) or "for_loop" (one tensor at a time). Same update rule; they differ in rounding order only."""
    pad_to_multiple: int = Field(1, ge=1)
    """Pad each micro-batch's sequence length up to a multiple of this (padding is masked: the rewards are
    the same). oneDNN builds a kernel per matrix shape on AMX CPUs, so fewer distinct lengths reuse them."""
    compile: bool = False
    """torch.compile each transformer block in place (regional compilation, dynamic shapes: the blocks
    share compiled code, and a new sequence length does not recompile; state-dict keys, checkpoints and
    the exported model are unchanged), fusing the elementwise ops between the matmuls (RMSNorm, RoPE,
    the SiLU gate). Run here single-process only (DDP wraps the same modules, untested); refused under
    FSDP and DeepSpeed, whose compile setting is accelerate's dynamo_backend. Measured on SmolLM2 here:
    1.10-1.14x the default's tokens/s after step 1 and ~20% less peak memory, after ~30 s of compiling on
    a cold cache (BENCHMARKS.md, "Training throughput against TRL"); inductor needs a C++ compiler on CPU. Off by default:
    short runs pay more to compile than they save."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward: less memory, more compute."""
    prompt_sharing: bool | None = None
    """Pack [prompt, chosen response, rejected response] into one sequence so the shared prompt is
    computed once (a 4D mask hides chosen from rejected; same rewards). None (default): on wherever the
    model supports it (decoders with a score head, eager or sdpa attention, max_length within any sliding
    window: the mask reaches every layer unwindowed), since it trains 1.7x faster on HH-RLHF
    (BENCHMARKS.md, "Training throughput against TRL"); true: required (error if unsupported); false: off."""
    length_grouping: bool = True
    """Batch pairs of similar length (less padding); the order of batches stays random."""
    attn_implementation: str | None = None
    """Force an attention kernel ("eager", "sdpa"); None: the architecture's default."""
    lora: LoraOptions | None = None
    """Train low-rank adapters instead of all weights (merged into the saved model)."""

    head_init: Literal["random", "probe"] = "random"
    """The score head before fine-tuning. "random": a fresh head drawn from `seed` (the paper's setup);
    "probe": LP-FT — fit the head on the frozen backbone's last-token features of the training pairs
    (one inference pass; the loss and loss_params above; early stopping on the validation pairs), then
    fine-tune from it (rewardkit.training.head). Needs a decoder with a `score` head."""
    head_probe: ProbeFit = ProbeFit()
    """How the head_init probe is fitted (L2, Adam steps, early stopping)."""
    head_calibrate: bool = False
    """With head_init probe: multiply the probe head by the scale that maximises the Bradley-Terry
    likelihood of its training margins (rewardkit.probing.probe.bt_scale) before fine-tuning. The ranking,
    hence the probe's accuracy, is unchanged; an L2-shrunk or early-stopped head has margins near 0, so
    without it fine-tuning starts at loss ~log 2 with the largest gradients into the backbone, the feature
    distortion LP-FT means to avoid. On the CPU recipe it did not help (held-out -4.1 points vs its probe;
    uncalibrated -3.1: BENCHMARKS.md, "The CPU recipe"), hence off. Bradley-Terry loss only."""
    export_probe_model: bool = False
    """With head_init probe: also save the frozen backbone + probe head to out_dir/probe_model, the
    linear-probe baseline to evaluate beside the fine-tuned model."""
    head_lr_multiplier: float = Field(1.0, gt=0)
    """The score head's learning rate is lr x this."""
    train_top_k_layers: int | None = Field(None, ge=0)
    """Train only the top k decoder blocks (plus the final norm and the head); the embeddings and the
    lower blocks stay frozen. 0: the head alone. None: every weight."""
    prefix_cache: bool | None = None
    """With train_top_k_layers: compute the hidden states entering the lowest trained block once per
    sequence (training and validation pairs; bf16 with bf16 weights, memory-mapped under out_dir) and run
    only the top k blocks from them in training, validation and the LP probe's features; same losses and
    gradients (rewardkit.training.prefix). None (default): on wherever the frozen part is fixed (a decoder
    whose blocks take cached states, no LoRA, no dropout, one process), else off with a log line saying
    why; true: required (error otherwise); false: off."""

    eval_every: int = Field(50, ge=1)
    """Validate every this many optimizer steps (and at the end)."""
    eval_batch_size: int = Field(16, ge=1)
    """Pairs per validation forward pass per process."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop when validation accuracy has not improved for this many validations; None: never."""
    save_every: int = Field(100, ge=1)
    """Write a resumable checkpoint every this many optimizer steps."""
    keep_checkpoints: int = Field(2, ge=1)
    """How many of the latest step checkpoints to keep (the best one is kept apart)."""
    log_every: int = Field(1, ge=1)
    """Print a progress line every this many steps (the JSONL log records every step)."""

    @model_validator(mode="after")
    def _check_loss(self) -> TrainConfig:
        from rewardkit.losses import check_loss, loss_parameters

        check_loss(self.loss, self.loss_params)
        accepted = loss_parameters(self.loss)
        if self.margin_field is not None and ("margin" not in accepted or "margin" in self.loss_params):
            raise ValueError(f"margin_field needs a loss with a `margin` parameter not also set in loss_params "
                             f"({self.loss} accepts: {accepted or 'none'})")
        if self.micro_batch_size > self.global_batch_size:
            raise ValueError(f"micro_batch_size {self.micro_batch_size} > global_batch_size {self.global_batch_size}")
        return self

    @model_validator(mode="after")
    def _check_hard_pairs(self) -> TrainConfig:
        # A held-out prompt's pairs split across both sides would let its responses into training pairs.
        if self.hard_pairs is not None and not self.val_data and self.val_fraction > 0 and self.val_split != "prompt":
            raise ValueError("hard_pairs needs val_split: prompt (or val_data): pairs of one prompt on both sides "
                             "of the hold-out would carry held-out responses into constructed training pairs")
        return self

    @model_validator(mode="after")
    def _check_head(self) -> TrainConfig:
        if self.export_probe_model and self.head_init != "probe":
            raise ValueError("export_probe_model needs head_init: probe (a random head has no probe to save)")
        if self.head_calibrate and self.head_init != "probe":
            raise ValueError("head_calibrate needs head_init: probe (it rescales the fitted probe head)")
        if self.head_calibrate and (self.loss != "bradley_terry" or self.margin_field or self.loss_params):
            raise ValueError("head_calibrate fits the plain Bradley-Terry likelihood's scale; it needs loss "
                             "bradley_terry without a margin or loss_params")
        return self

    def accumulation_steps(self, world_size: int) -> int:
        """Micro-batches per process per optimizer step: global = micro x accumulation x processes."""
        per_step = self.micro_batch_size * world_size
        if self.global_batch_size % per_step:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} is not a multiple of micro_batch_size "
                f"{self.micro_batch_size} x {world_size} process(es)"
            )
        return self.global_batch_size // per_step


MODEL_DIR = "model"
"""The exported model, in a run's out_dir."""
PROBE_MODEL_DIR = "probe_model"
"""The LP head on the frozen backbone (export_probe_model), in a run's out_dir."""


class TrainRecipe(TrainConfig):
    """`rewardkit train RECIPE.yaml`: the training settings plus where the run goes."""

    out_dir: Path = Path("runs/train")
    """Run directory: model/ (the HF model), train_log.jsonl, tb/, checkpoints/, recipe.yaml."""
    resume: bool = False
    """Continue from the latest checkpoint in out_dir/checkpoints (model, optimizer, scheduler, RNG
    states and data position) instead of starting over."""
