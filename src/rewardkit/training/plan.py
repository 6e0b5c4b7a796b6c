"""The arithmetic of a training plan, pure: batch math, memory per GPU, hours per epoch.

    rewardkit train recipes/skywork-llama3.1-8b.yaml --dry-run --accelerate-config configs/accelerate/fsdp.yaml \
        --arch-config configs/models/meta-llama/Llama-3.1-8B-Instruct --assume-pairs 80000

`rewardkit.training.dryrun` builds the model on the meta device and feeds its shapes and counts here;
everything below is plain numbers in, numbers out, so tests derive each figure by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import Field, model_validator

from rewardkit.recipe import StrictModel

GIB = 2**30


class DryRunOptions(StrictModel):
    """`rewardkit train RECIPE --dry-run ...`: plan a run without weights, print it, write plan.json."""

    dry_run: bool = False
    """Build the run without weights (model on the meta device, data plan, batch math, memory per GPU,
    hours per epoch), print the plan, write out_dir/plan.json and exit without training."""
    accelerate_config: Path | None = None
    """Dry run: the accelerate config (YAML) the run will be launched with; its process and machine
    counts and its sharding (FSDP, DeepSpeed ZeRO stage) are planned for."""
    num_processes: int | None = Field(None, ge=1)
    """Dry run without --accelerate-config: processes (GPUs) over all machines, as accelerate counts
    them (2 nodes x 8 GPUs = 16); planned without sharding (DDP). Default 1."""
    num_machines: int | None = Field(None, ge=1)
    """Dry run without --accelerate-config: machines the processes are spread over. Default 1."""
    arch_config: str | None = None
    """Dry run: read the architecture from this config (a local dir with config.json, or a hub id)
    instead of the recipe's `model`; e.g. configs/models/meta-llama/Llama-3.1-8B-Instruct offline."""
    assume_pairs: int | None = Field(None, ge=1)
    """Dry run: pairs in `data` before the hold-out split, instead of reading the data (needed where the
    data cannot be read, e.g. hub data offline)."""
    assume_pair_tokens: float | None = Field(None, gt=0)
    """Dry run: mean tokens one pair costs in training (prompt + both responses with prompt sharing,
    both whole conversations without). Default: measured on the data with the model's tokenizer when
    both load, else the upper bound 2 x max_length (and the plan says so)."""
    gpu_peak_tflops: float = Field(989.0, gt=0)
    """Dry run: dense bf16 peak of one GPU in TFLOP/s. 989: H100 SXM (NVIDIA H100 datasheet, 1,979
    "with sparsity" halved); A100: 312."""
    mfu: float = Field(0.40, gt=0, le=1)
    """Dry run: model FLOPs utilisation assumed for the hours. 0.40: Llama 3 pretraining on H100s
    reached 38-43% bf16 MFU (Dubey et al. 2024, arXiv:2407.21783, Table 4)."""
    gpu_memory_gib: float = Field(80.0, gt=0)
    """Dry run: memory of one GPU in GiB the per-GPU estimate is checked against (H100 SXM: 80)."""

    @model_validator(mode="after")
    def _check_dry_run(self) -> DryRunOptions:
        only_dry = [n for n in ("accelerate_config", "num_processes", "num_machines", "arch_config",
                                "assume_pairs", "assume_pair_tokens") if getattr(self, n) is not None]
        if only_dry and not self.dry_run:
            raise ValueError(f"{', '.join(only_dry)} apply to a dry run only: add dry_run (--dry-run); a training "
                             "run takes its processes from the launcher (accelerate launch / torchrun)")
        if self.accelerate_config is not None and (self.num_processes or self.num_machines):
            raise ValueError("give either accelerate_config or num_processes/num_machines, not both "
                             "(the accelerate config states its own counts)")
        return self


@dataclass(frozen=True)
class Sharding:
    """What one process holds of the training state, read from the accelerate config."""

    name: str
    """"none" (one process or DDP), "fsdp FULL_SHARD", "deepspeed zero3", ..."""
    params: bool = False
    """Weights sharded 1/N (ZeRO-3, FSDP FULL_SHARD / FSDP2 reshard_after_forward)."""
    grads: bool = False
    """Gradients sharded 1/N (ZeRO-2/3, FSDP FULL_SHARD / SHARD_GRAD_OP)."""
    optimizer: bool = False
    """AdamW states sharded 1/N (ZeRO-1/2/3, every FSDP strategy but NO_SHARD)."""
    offload_optimizer: bool = False
    """AdamW states (and the fp32 master weights) live in CPU memory, not on the GPU."""
    bf16_weights: bool = False
    """bf16 weights and gradients, fp32 master weights with the AdamW states in the optimizer: DeepSpeed's
    bf16 mode, or rewardkit's own `bf16_weights` on one process or DDP (training.sharding.bf16_weights_on)."""


@dataclass(frozen=True)
class Arch:
    """The shapes and counts of the reward model, read from the meta-device model."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    norms_per_layer: int
    eager_attention: bool
    """Eager attention materialises each head's s x s scores (Gemma-2: its soft-capping needs it)."""
    softcapping: bool
    params_total: int
    params_embedding: int
    params_layer: int
    """One decoder block: FSDP's wrap unit."""
    params_trainable: int
    params_head: int
    """The one-score head (hidden weights)."""
    params_lm_head: int
    """The causal LM's output matrix (0 when tied to the embeddings)."""

    @property
    def params_causal_lm(self) -> int:
        """The backbone as the causal LM the model card counts: the score head swapped for the LM head."""
        return self.params_total - self.params_head + self.params_lm_head

    @property
    def params_nonembedding(self) -> int:
        return self.params_total - self.params_embedding


def batch_math(global_batch: int, micro: int, accumulation: int, processes: int) -> dict[str, int]:
    """The numbers of one optimizer step; `accumulation` comes from TrainConfig.accumulation_steps."""
    return {"processes": processes, "micro_batch_size": micro, "accumulation": accumulation,
            "global_batch_size": micro * accumulation * processes, "recipe_global_batch_size": global_batch}


def check_deepspeed_accumulation(theirs, accum: int) -> None:
    """DeepSpeed scales the loss and steps by its own gradient_accumulation_steps, fixed in its config
    before rewardkit derives `accum`: a mismatch would silently change the global batch."""
    if theirs not in (accum, "auto"):
        raise ValueError(f"DeepSpeed gradient_accumulation_steps is {theirs}, but global_batch_size / "
                         f"(micro_batch_size x processes) = {accum}: set it to {accum} in the accelerate config")


def state_bytes(arch: Arch, sharding: Sharding, world: int) -> dict[str, float]:
    """Bytes per GPU of weights, gradients and AdamW states.

    fp32 weights under bf16 autocast (FSDP, or `bf16_weights: false`): a trainable parameter costs 4
    (weight) + 4 (fp32 gradient) + 8 (AdamW exp_avg and exp_avg_sq, fp32) = 16 bytes, a frozen one 4.
    bf16 weights (Sharding.bf16_weights: DeepSpeed's bf16 mode, rewardkit's default on one process or DDP)
    keep bf16 weights (2) and gradients (2) and put fp32 master weights (4) with the AdamW states (8) in
    the optimizer: also 16 per trainable parameter (the ZeRO paper's 2 + 2 + K=12, Rajbhandari et al.
    2020, arXiv:1910.02054, section 3.1), 2 per frozen one.
    Each part is divided by the process count where the config shards it.
    """
    n, t = arch.params_total, arch.params_trainable
    if sharding.bf16_weights:
        weights, grads, optim = 2 * n, 2 * t, 12 * t
    else:
        weights, grads, optim = 4 * n, 4 * t, 8 * t
    if sharding.offload_optimizer:
        optim = 0
    return {"weights": weights / (world if sharding.params else 1),
            "gradients": grads / (world if sharding.grads else 1),
            "optimizer": optim / (world if sharding.optimizer else 1)}


def working_weights_bytes(arch: Arch, sharding: Sharding) -> float:
    """bf16 weight copies the forward and backward use beyond the stored state. Unsharded under autocast
    (fp32 weights), a bf16 copy of every weight for the step (2 bytes/param); none with bf16 weights. Sharded, the gathered unit and the
    prefetched next one, in bf16 (FSDP MixedPrecision, or DeepSpeed's bf16 weights): 2 x 2 bytes x the
    largest unit, a decoder block or the embedding matrix (FSDP's root unit)."""
    if sharding.params:
        return 2 * 2 * max(arch.params_layer, arch.params_embedding)
    return 0.0 if sharding.bf16_weights else 2 * arch.params_total


def layer_activation_bytes(arch: Arch, row_tokens: int) -> float:
    """Bytes autograd saves per token in one decoder block, bf16 autocast over an fp32 residual stream.

    Following the accounting of Korthikanti et al. 2022 (arXiv:2205.05198, section 4.1: count each tensor
    saved for the backward), adapted to rewardkit's layers: each RMSNorm keeps its fp32 input and
    normalised output (8h); the q/k/v and gate/up projections keep their bf16 inputs (10h in all);
    attention keeps q, k, v and its output (4 q_dim + 4 kv_dim, with q_dim = heads x head_dim); the
    gated MLP keeps gate, up, act(gate) and their product (8 intermediate). Eager attention also keeps
    k and v repeated to every head (4 (q_dim - kv_dim)) and 6 bytes per score (fp32 softmax output, bf16
    probabilities), 8 with soft-capping (its tanh output): per token, that x heads x row length.
    Checked against the bytes autograd saves for tiny Llama and Gemma-2 blocks (tests/test_plan.py).
    """
    h, q, kv = arch.hidden, arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    per_token = 8 * h * arch.norms_per_layer + 10 * h + 4 * q + 4 * kv + 8 * arch.intermediate
    if arch.eager_attention:
        per_token += 4 * (q - kv) + (8 if arch.softcapping else 6) * arch.heads * row_tokens
    return float(per_token)


def activation_bytes(arch: Arch, micro: int, max_length: int, prompt_sharing: bool,
                     checkpointing: bool) -> float:
    """Activation memory of one micro-batch at max_length, the upper bound: each pair is two
    conversations of max_length tokens, packed into one row of 2 x max_length with prompt sharing, two
    rows of max_length without. Without checkpointing every block's saved tensors are live at the start
    of the backward; with it, only each block's fp32 input (4h per token) plus one block recomputed.
    Prompt sharing adds its 4D mask, [rows, 1, row, row]: bool for sdpa, fp32 for eager
    (training.forward.mask_for_kernel)."""
    tokens = 2 * micro * max_length
    row = 2 * max_length if prompt_sharing else max_length
    block = layer_activation_bytes(arch, row) * tokens
    mask = (4 if arch.eager_attention else 1) * micro * row * row if prompt_sharing else 0
    if checkpointing:
        return arch.layers * 4 * arch.hidden * tokens + block + mask
    return arch.layers * block + mask


def flops_per_token(arch: Arch, full_backward: bool) -> float:
    """Training FLOPs per token, 6N over the non-embedding parameters N (Kaplan et al. 2020,
    arXiv:2001.08361, section 2.1; attention's own FLOPs left out): 2N forward, 2N for the gradients of
    the activations, 2N for those of the weights. Frozen weights get no weight gradient, and blocks below
    the lowest trainable one (train_top_k_layers) no backward at all (`full_backward` False); LoRA
    still backpropagates through every block. Full training: exactly 6N."""
    n = arch.params_nonembedding
    trainable = min(arch.params_trainable, n)
    return 2 * n + 2 * (n if full_backward else trainable) + 2 * trainable


def hours_per_epoch(tokens: float, flops_token: float, gpus: int, peak_tflops: float, mfu: float) -> float:
    """FLOPs of one epoch / (GPUs x peak x MFU), in hours."""
    return flops_token * tokens / (gpus * peak_tflops * 1e12 * mfu) / 3600


def as_dict(x) -> dict:
    return asdict(x)
