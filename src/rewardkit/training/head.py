"""LP-FT (Kumar et al. 2022, arXiv:2202.10054): fit the score head on frozen features, then fine-tune.

A fresh random head fine-tuned together with the backbone at the backbone's small learning rate lets
the backbone drift before the head is any good, and the run can end below a linear probe on its own
frozen features (BENCHMARKS.md, "The CPU recipe"). Fitting the head first (seconds, on one
inference pass over the training pairs) starts fine-tuning from the probe.
"""

from __future__ import annotations

import time
from pathlib import Path

from torch import nn

from rewardkit.probing.features import pair_rows, pooled_features, split_pairs_axis
from rewardkit.probing.probe import ProbeOptions, bt_scale, fit_probe, pair_accuracy
from rewardkit.training.config import PROBE_MODEL_DIR


def fit_probe_head(model, tokenizer, train_set, val_set, cfg, out_dir: Path, main: bool) -> dict:
    """Fit `model.score` on the frozen last-token features of the training pairs (early stopping on the
    validation pairs when there are any) and write it into the head; optionally save that model."""
    from rewardkit.probing.export import save_model_dir, set_head

    if getattr(model, "score", None) is None:
        raise ValueError(f"head_init: probe needs a decoder whose `score` head reads the last token; "
                         f"{type(model).__name__} has none (use head_init: random)")
    t0 = time.perf_counter()
    model.eval()
    pad = tokenizer.pad_token_id
    feats = pooled_features(model, pair_rows(train_set.items), pad, autocast=cfg.bf16, progress=main)["last"]
    xc, xr = split_pairs_axis(feats)
    val = None
    if val_set.items:
        val = split_pairs_axis(pooled_features(model, pair_rows(val_set.items), pad, autocast=cfg.bf16)["last"])
    opts = ProbeOptions(loss=cfg.loss, loss_params=cfg.loss_params, **cfg.head_probe.model_dump())
    probe, history = fit_probe(xc, xr, opts, val=val)
    scale = bt_scale(probe.scores(xc) - probe.scores(xr)) if cfg.head_calibrate else 1.0
    set_head(model, probe.weight * scale)
    info = {"seconds": round(time.perf_counter() - t0, 1), "train_accuracy": pair_accuracy(probe.scores(xc), probe.scores(xr)),
            "val_accuracy": pair_accuracy(probe.scores(val[0]), probe.scores(val[1])) if val else None,
            "best_epoch": history.best_epoch, "weight_norm": float((probe.weight**2).sum() ** 0.5), "scale": scale}
    if cfg.export_probe_model and main:
        save_model_dir(model, tokenizer, out_dir / PROBE_MODEL_DIR)
    return info


def decoder_layers(model) -> nn.ModuleList:
    """The backbone's stack of num_hidden_layers blocks (model.layers for Llama-likes, encoder.layer for BERT)."""
    backbone = getattr(model, model.base_model_prefix)
    n = model.config.num_hidden_layers
    for module in backbone.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"{type(model).__name__}: no stack of {n} layers found to freeze")


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
