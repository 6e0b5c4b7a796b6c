"""bf16 weights with fp32 master weights (TrainConfig.bf16_weights): the model computes in bf16 with no
cast of fp32 weights per micro-batch (under autocast every linear layer casts its fp32 weight to bf16 in
each forward, and its bf16 gradient back to fp32 in each backward; BENCHMARKS.md "Where one training step's
time goes"), while the optimizer updates fp32 copies, because an AdamW update of ~lr (2e-6) is far below
a bf16 weight's spacing (~1e-4 at 0.02) and would round away.

The optimizer is a plain torch AdamW over the fp32 masters, with three hooks:
- before each step: each model gradient (bf16, accumulated over the micro-batches and clipped) is moved
  to its master as fp32, and the model's is freed (so the loop's zero_grad, which reaches only the
  optimizer's parameters, leaves nothing behind);
- after each step: the masters are copied into the model, rounded to bf16;
- state_dict / load_state_dict carry the masters, so a resumed run continues from the same fp32 weights
  an uninterrupted run holds (the model's saved bf16 weights alone would lose the low bits).
"""

from __future__ import annotations

import torch
from torch import nn

MASTERS = "rewardkit_fp32_master_weights"
"""The optimizer state_dict key holding the masters, in param_groups order."""


def master_copies(groups: list[dict]) -> tuple[list[dict], list[tuple[nn.Parameter, torch.Tensor]]]:
    """Optimizer param groups of model parameters -> the same groups over fp32 copies, and the
    (model parameter, master) pairs in group order."""
    pairs, out = [], []
    for g in groups:
        masters = [p.detach().clone().float().requires_grad_(True) for p in g["params"]]
        pairs += zip(g["params"], masters)
        out.append({**g, "params": masters})
    return out, pairs


def attach_master_weights(optimizer: torch.optim.Optimizer, pairs: list[tuple[nn.Parameter, torch.Tensor]]) -> None:
    """Install the step and state_dict hooks described in the module docstring."""

    def grads_to_masters(opt, args, kwargs):
        for p, m in pairs:
            m.grad = None if p.grad is None else p.grad.float()
            p.grad = None

    @torch.no_grad()
    def masters_to_model(opt, args, kwargs):
        for p, m in pairs:
            p.copy_(m)

    def save_masters(opt, state_dict):
        state_dict[MASTERS] = [m.detach().clone() for _, m in pairs]
        return state_dict

    @torch.no_grad()
    def load_masters(opt, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop(MASTERS, None)
        if saved is None:  # a checkpoint written without bf16_weights: its model weights are the masters
            saved = [p.detach() for p, _ in pairs]
        if len(saved) != len(pairs):
            raise ValueError(f"checkpoint holds {len(saved)} master weights, this model {len(pairs)}")
        for (p, m), s in zip(pairs, saved):
            m.copy_(s)
            p.copy_(s)
        return state_dict

    optimizer.register_step_pre_hook(grads_to_masters)
    optimizer.register_step_post_hook(masters_to_model)
    optimizer.register_state_dict_post_hook(save_masters)
    optimizer.register_load_state_dict_pre_hook(load_masters)
