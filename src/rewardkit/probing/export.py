"""A last-token linear probe -> a normal reward model directory (the backbone + the probe as `score.weight`).

    from rewardkit.probing.export import export_probe_model
    export_probe_model("smollm2", probe, "runs/probe/model")

Plain `AutoModelForSequenceClassification.from_pretrained(dir)` loads the result, and `rewardkit
evaluate/score/serve` use it unchanged. Only the `last` pooling of the final layer is what a score head
reads; probes on other poolings (mean, earlier layers) are experiment-only and are refused here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rewardkit import quiet
from rewardkit.data.io import atomic_dir
from rewardkit.probing.probe import Probe


def set_head(model, weight) -> None:
    """Write a probe's folded weight [H] into the model's one-score head (float32 copy, no bias)."""
    head = getattr(model, "score", None)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no `score` head reading the last token: a probe on its "
                         "features is experiment-only and cannot be exported")
    w = torch.as_tensor(weight, dtype=head.weight.dtype, device=head.weight.device)
    if w.shape != head.weight.shape[1:]:
        raise ValueError(f"probe weight has {tuple(w.shape)} features, the head reads {head.weight.shape[1]}")
    with torch.no_grad():
        head.weight.copy_(w[None])
        if getattr(head, "bias", None) is not None:
            head.bias.zero_()


def export_probe_model(model_name: str, probe: Probe, dest: str | Path, *, pooling: str = "last") -> Path:
    """Save backbone (fp32) + probe head as an HF directory, atomically (save_model_dir)."""
    from rewardkit.models.loading import load_reward_model

    if pooling != "last":
        raise ValueError(f"pooling {pooling!r} is experiment-only: only `last` (the token the score head reads) "
                         "exports as a reward model")
    model, tokenizer = load_reward_model(model_name, dtype="float32", seed=0)
    set_head(model, probe.weight)
    return save_model_dir(model, tokenizer, dest)


def save_model_dir(model, tokenizer, dest: str | Path, state_dict: dict | None = None) -> Path:
    """Save an HF model directory (safetensors + tokenizer) atomically: written beside `dest`, then swapped
    in (data.io.atomic_dir), so a killed save leaves no complete-looking model and no stale file of an
    earlier one; a `dest` rewardkit did not write is refused, never replaced."""
    dest = Path(dest)
    with atomic_dir(dest, marker="config.json", replace=True) as tmp, quiet.libraries():
        # quiet: transformers 5 draws a "Writing model shards" bar
        model.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return dest
