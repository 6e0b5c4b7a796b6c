"""LP-FT (Kumar et al. 2022, arXiv:2202.10054): fit the score head on frozen features, then fine-tune.

A fresh random head fine-tuned together with the backbone at the backbone's small learning rate lets
the backbone drift before the head is any good, and the run can end below a linear probe on its own
frozen features (BENCHMARKS.md, "The CPU recipe"). Fitting the head first (seconds, on one
inference pass over the training pairs) starts fine-tuning from the probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rewardkit.models.loading import decoder_layers
from rewardkit.probing.features import split_pairs_axis
from rewardkit.probing.probe import ProbeOptions, bt_scale, fit_probe, pair_accuracy
from rewardkit.training.config import PROBE_MODEL_DIR


def fit_probe_head(model, tokenizer, train_set, val_set, cfg, out_dir: Path, main: bool,
                   features: Callable) -> tuple[dict, tuple[np.ndarray, np.ndarray] | None]:
    """Fit `model.score` on the frozen last-token features of the training pairs (early stopping on the
    validation pairs when there are any) and write it into the head; optionally save that model.

    `features(encoded_set)` -> [2N, H] float32, the final hidden state the score head reads for each row of
    `pair_rows` (setup passes the one inference path: bf16 weights where training computes in bf16).
    Returns (what the log records, the probe head's (r_chosen, r_rejected) on the validation pairs or None):
    the step-0 validation reads those instead of running the model again."""
    from rewardkit.probing.export import save_model_dir, set_head

    if getattr(model, "score", None) is None:
        raise ValueError(f"head_init: probe needs a decoder whose `score` head reads the last token; "
                         f"{type(model).__name__} has none (use head_init: random)")
    t0 = time.perf_counter()
    xc, xr = split_pairs_axis(features(train_set))
    t_features = time.perf_counter() - t0
    val = split_pairs_axis(features(val_set)) if val_set.items else None
    t_val = time.perf_counter() - t0 - t_features
    opts = ProbeOptions(loss=cfg.loss, loss_params=cfg.loss_params, **cfg.head_probe.model_dump())
    probe, history = fit_probe(xc, xr, opts, val=val)
    scale = bt_scale(probe.scores(xc) - probe.scores(xr)) if cfg.head_calibrate else 1.0
    set_head(model, probe.weight * scale)
    info = {"seconds": round(time.perf_counter() - t0, 1), "feature_seconds": round(t_features, 1),
            "val_feature_seconds": round(t_val, 1),
            "train_accuracy": pair_accuracy(probe.scores(xc), probe.scores(xr)),
            "val_accuracy": pair_accuracy(probe.scores(val[0]), probe.scores(val[1])) if val else None,
            "best_epoch": history.best_epoch, "weight_norm": float((probe.weight**2).sum() ** 0.5), "scale": scale}
    if cfg.export_probe_model and main:
        save_model_dir(model, tokenizer, out_dir / PROBE_MODEL_DIR)
    val_rewards = None if val is None else (probe.scores(val[0]) * scale, probe.scores(val[1]) * scale)
    return info, val_rewards


def freeze_below_top_layers(model, k: int) -> None:
    """Train only the top k blocks, what follows them (final norm) and the head; freeze the embeddings
    and every lower block. Autograd then stops at the lowest trainable block, so the backward costs
    ~k/L of a full one."""
    layers = decoder_layers(model)
    if not 0 <= k <= len(layers):
        raise ValueError(f"train_top_k_layers={k}: the model has {len(layers)} layers")
    backbone = getattr(model, model.base_model_prefix)
    frozen = {id(p) for p in model.get_input_embeddings().parameters()}
    embeddings = getattr(backbone, "embeddings", None)  # BERT: positions, token types, their norm
    if embeddings is not None:
        frozen |= {id(p) for p in embeddings.parameters()}
    for block in layers[: len(layers) - k]:
        frozen |= {id(p) for p in block.parameters()}
    if k == 0:  # head only: the final norm is part of the frozen feature
        frozen |= {id(p) for p in backbone.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) not in frozen)
