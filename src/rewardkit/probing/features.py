"""Pooled backbone features of preference pairs: one inference pass, reused by every probe experiment.

    from rewardkit.probing.features import pooled_features
    feats = pooled_features(model, rows, pad_id)     # {"last": [S, H], "mean": [S, H], ...} float32

`last` is the final hidden state at the token the score head reads (the last attended token of each
right-aligned row, exactly `rewardkit.models.loading.forward_scores`'s position: with pad == EOS on
SmolLM2, "last non-pad token" would read one token early, so the position comes from the mask). A linear
head on `last` is therefore a reward model. `mean` (the mean over real tokens) and `layerK` (the last
token after decoder layer K) are for experiments only: no score head reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rewardkit.data.batching import pad_right, plan_batches, to_device
from rewardkit.models.loading import arch_spec, right_align, run_backbone
from rewardkit.options import DEFAULT_BATCH_TOKENS

WIDTH_MULTIPLE = 64
"""Batch widths are rounded up to this (padding after the real tokens changes nothing on a causal model
without a padding mask, and a bidirectional one gets the mask): few distinct shapes, few kernel builds."""
EXPORTABLE_POOLING = "last"
"""The only pooling a plain AutoModelForSequenceClassification head reads (decoders with a `score` head)."""


def _pool(hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """hidden [B, T, H], right-aligned mask [B, T] -> (last [B, H], mean [B, H]) in float32."""
    hidden = hidden.float()
    last = hidden[torch.arange(hidden.shape[0], device=hidden.device), mask.sum(dim=1) - 1]
    weights = mask.to(hidden.dtype)[:, :, None]
    mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
    return last, mean


def pooled_features(model, rows: Sequence[Sequence[int]], pad_id: int, *, batch_tokens: int = DEFAULT_BATCH_TOKENS,
                    layers: Sequence[int] = (), progress: bool = False) -> dict[str, np.ndarray]:
    """Features of each token-id row, in input order: {"last", "mean", "layer{K}"...} each [S, H] float32.

    Rows are batched longest first under a padded-token budget (little padding, the memory peak first).
    The backbone runs without a padding mask on causal models, as `forward_scores` does (real tokens
    never attend to the pads after them), so `last` is bit-for-bit what the score head would read in
    the same batch. The model computes in its own weights' dtype (bf16 weights, as `rewardkit score`
    runs: autocast around fp32 weights casts every weight in every forward, ~2x slower here).
    """
    causal = arch_spec(model).causal
    device = next(model.parameters()).device
    hidden_size = model.config.hidden_size
    names = ["last", "mean", *(f"layer{k}" for k in layers)]
    out = {n: np.zeros((len(rows), hidden_size), dtype=np.float32) for n in names}
    bar = _bar(len(rows), progress)
    with torch.inference_mode():
        for batch in plan_batches([len(r) for r in rows], batch_tokens):
            ids, mask = right_align(*pad_right([rows[i] for i in batch], pad_id, multiple=WIDTH_MULTIPLE))
            ids, mask = to_device(ids, device), to_device(mask, device)
            res = run_backbone(model, ids, None if causal else mask, output_hidden_states=bool(layers))
            last, mean = _pool(res.last_hidden_state, mask)
            pooled = {"last": last, "mean": mean}
            for k in layers:
                pooled[f"layer{k}"] = _pool(res.hidden_states[k], mask)[0]
            for n in names:
                out[n][batch] = pooled[n].cpu().numpy()
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return out


def _bar(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="features", unit="seq")


def pair_rows(encoded) -> list[list[int]]:
    """Encoded pairs -> sequence rows: row 2i is pair i's chosen, row 2i+1 its rejected."""
    return [ids for e in encoded for ids in (e.chosen_ids, e.rejected_ids)]


def split_pairs_axis(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[2N, ...] rows in pair_rows order -> (chosen [N, ...], rejected [N, ...])."""
    return array[0::2], array[1::2]
