"""flock /tmp/rk-heavy.lock python benchmarks/training.py --profile [--batch 8] [--micro 4] [--set key=value ...]

Where one training step's time goes: torch.profiler (CPU) over one optimizer step of rewardkit's trainer
(SmolLM2-135M-Instruct, the default TrainConfig apart from the benchmark's global batch and micro-batch,
on the benchmark's HH-RLHF pairs), after one warm-up step on other pairs (the first step builds oneDNN
kernels and the optimizer's states). Every operator's self time goes into one group:

- matmul: aten::mm/addmm/bmm/linear (forward and backward);
- attention: scaled_dot_product_attention and its backward, plus building the prompt-sharing 4D mask;
- casts: aten::to/_to_copy/copy_ under autocast (fp32 weights -> bf16 every micro-batch, grads back);
- grad accumulation: AccumulateGrad (adding each micro-batch's gradient into .grad);
- optimizer: gradient clipping, AdamW.step, zero_grad;
- elementwise/other: the rest of forward and backward (RMSNorm, SiLU, RoPE, embedding, the loss...);
- python/untraced: the step's wall time minus all operators' self time (Python, collate, dispatcher).

Tokenization happens once per run (setup), not per step; it is timed apart on the same batch's pairs.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rewardkit.options import DEFAULT_MODEL

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::linear", "aten::matmul"}
CASTS = {"aten::to", "aten::_to_copy"}
ATTENTION = ("scaled_dot_product", "prompt_sharing_mask")


def group_of(event) -> str:
    """The group of one operator event, from its own name and its ancestors' (innermost first: the
    copy_ inside an autocast cast inside aten::linear is a cast, the mm inside it a matmul)."""
    chain = []
    while event is not None:
        chain.append(event.name)
        event = event.cpu_parent
    if any(n == "optimizer" or n.startswith("Optimizer.") for n in chain):
        return "optimizer"
    if any("AccumulateGrad" in n for n in chain):
        return "grad accumulation"
    for n in chain:
        if any(k in n for k in ATTENTION):
            return "attention"
        if n in MATMUL:
            return "matmul"
        if n in CASTS:
            return "casts"
    return "elementwise/other"


def grouped(prof) -> tuple[dict[str, float], dict[str, float]]:
    """Self CPU time (ms) per group, and per operator name within elementwise/other."""
    groups, other = defaultdict(float), defaultdict(float)
    for e in prof.events():
        if e.device_type.name != "CPU":
            continue
        ms = e.self_cpu_time_total / 1e3
        g = group_of(e)
        groups[g] += ms
        if g == "elementwise/other":
            other[e.name] += ms
    return groups, other


def labelled(fn, label: str):
    import torch

    def wrapped(*a, **k):
        with torch.profiler.record_function(label):
            return fn(*a, **k)

    return wrapped


def profile_main(batch: int, micro: int, overrides: dict | None = None) -> None:
    import torch

    from rewardkit.training import TrainConfig, forward
    from rewardkit.training.data import encode_pairs, epoch_batches
    from rewardkit.training.loop import train_step
    from rewardkit.training.setup import setup
    from training_pairs import MAX_LENGTH, sample_pairs

    pairs = sample_pairs(2 * batch)
    cfg = TrainConfig(**{"model": DEFAULT_MODEL, "global_batch_size": batch, "micro_batch_size": micro,
                         "max_length": MAX_LENGTH, "val_fraction": 0.0, "save_every": 10_000, "seed": 0, **(overrides or {})})
    with tempfile.TemporaryDirectory() as tmp:
        run = setup(cfg, Path(tmp), resume=False, train_pairs=pairs, val_pairs=[])
        run.optimizer.step = labelled(run.optimizer.step, "optimizer")
        run.optimizer.zero_grad = labelled(run.optimizer.zero_grad, "optimizer")
        run.accelerator.clip_grad_norm_ = labelled(run.accelerator.clip_grad_norm_, "optimizer")
        # building the prompt-sharing mask counts as attention; labelled here, so training never pays for it
        for name in ("shared_mask", "mask_for_kernel"):
            setattr(forward, name, labelled(getattr(forward, name), "prompt_sharing_mask"))
        warm, timed = epoch_batches(run.lengths, batch, seed=0, epoch=0, grouped=False)[:2]
        train_step(run, warm)
        t = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            train_step(run, timed)
        wall_ms = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        encode_pairs([run.train_set.pairs[i] for i in timed], run.tokenizer, max_length=MAX_LENGTH, on_long="truncate")
        tok_ms = (time.perf_counter() - t) * 1e3
    groups, other = grouped(prof)
    groups["python/untraced"] = wall_ms - sum(groups.values())
    tokens = sum(run.lengths[i] for i in timed)
    print(f"one step: {len(timed)} pairs, {tokens} tokens, micro-batch {micro}, {wall_ms:.0f} ms under the profiler "
          f"({tokens / wall_ms * 1e3:.0f} tok/s); settings: {overrides or 'defaults'}")
    print("\n| group | ms | share of the step |\n|---|---:|---:|")
    for g, ms in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"| {g} | {ms:.0f} | {ms / wall_ms:.1%} |")
    print(f"| tokenization of these pairs (once per run, not per step) | {tok_ms:.0f} | ({tok_ms / wall_ms:.1%}) |")
    top = sorted(other.items(), key=lambda kv: -kv[1])[:8]
    print("\nlargest in elementwise/other: " + ", ".join(f"{n} {ms:.0f} ms" for n, ms in top))
    print("\ntop operators by self time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
