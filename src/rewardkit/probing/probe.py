"""A linear reward head fitted on cached features: pure functions of arrays, seconds on a CPU.

    from rewardkit.probing.probe import ProbeOptions, fit_probe
    probe, history = fit_probe(xc, xr, ProbeOptions(l2=0.1), val=(vc, vr))
    rewards = probe.scores(x)                            # x [N, D] raw features -> [N]

The reward is r(x) = w · (x − μ) / σ with μ, σ the training features' mean and spread (standardizing
makes one L2 strength fit every feature scale). Pairwise losses only see r_c − r_r, so the constant
−w·μ/σ never matters for a ranking: `Probe.weight` is w / σ folded onto the raw features, and
`Probe.scores` omits the constant. That folded weight is what an exported `score.weight` holds (no
intercept needed; SmolLM2's head has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from rewardkit.evaluation.heldout import ranked_right
from rewardkit.losses import LOSSES
from rewardkit.probing.options import ProbeOptions


@dataclass
class Probe:
    weight: np.ndarray
    """[D] float64, on raw features."""

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.weight


@dataclass
class History:
    evals: list[dict] = field(default_factory=list)
    best_epoch: int = -1


def pair_accuracy(rc: np.ndarray, rr: np.ndarray) -> float:
    """Share of pairs ranked right, a tie counting half (`ranked_right`)."""
    return float(np.mean(ranked_right(np.asarray(rc), np.asarray(rr))))


def _standardizer(xc: np.ndarray, xr: np.ndarray, on: bool) -> tuple[np.ndarray, np.ndarray]:
    both = np.concatenate([xc, xr]).astype(np.float64)
    mean = both.mean(axis=0)
    scale = both.std(axis=0) if on else np.ones(both.shape[1])
    return mean, np.where(scale > 1e-8, scale, 1.0)


def fit_probe(xc: np.ndarray, xr: np.ndarray, opts: ProbeOptions,
              val: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Probe, History]:
    """Fit w on training pairs (chosen features xc [N, D], rejected xr [N, D]); with `val`, keep the
    weight of the best validation accuracy (ties: lower validation loss) and stop early."""
    mean, scale = _standardizer(xc, xr, opts.standardize)

    def prep(x):
        return torch.from_numpy((np.asarray(x, dtype=np.float64) - mean) / scale)

    tc, tr = prep(xc), prep(xr)
    vc, vr = (prep(val[0]), prep(val[1])) if val is not None and len(val[0]) else (None, None)
    gen = torch.Generator().manual_seed(opts.seed)
    w = (torch.randn(tc.shape[1], generator=gen, dtype=torch.float64) * 1e-3).requires_grad_()
    optimizer = torch.optim.Adam([w], lr=opts.lr)
    loss_fn = partial(LOSSES[opts.loss], **opts.loss_params)
    history, best, since_best = History(), (-1.0, float("inf"), w.detach().clone()), 0
    for epoch in range(1, opts.max_epochs + 1):
        for idx in _batches(len(tc), opts.batch_size, gen):
            optimizer.zero_grad()
            loss = loss_fn(tc[idx] @ w, tr[idx] @ w).mean() + 0.5 * opts.l2 * (w @ w)
            loss.backward()
            optimizer.step()
        if vc is None or (epoch % opts.eval_every and epoch != opts.max_epochs):
            continue
        with torch.no_grad():
            rc, rr = vc @ w, vr @ w
            record = {"epoch": epoch, "loss": float(loss_fn(rc, rr).mean()), "accuracy": pair_accuracy(rc, rr)}
        history.evals.append(record)
        if (record["accuracy"], -record["loss"]) > (best[0], -best[1]):
            best, history.best_epoch, since_best = (record["accuracy"], record["loss"], w.detach().clone()), epoch, 0
        else:
            since_best += 1
            if opts.patience and since_best >= opts.patience:
                break
    final = best[2] if vc is not None else w.detach()
    return Probe(weight=(final / torch.from_numpy(scale)).numpy()), history


def bt_scale(margins: np.ndarray, max_abs_logit: float = 30.0) -> float:
    """The s >= 0 that maximises the Bradley-Terry likelihood of the margins m_i: argmin_s mean
    softplus(-s·m_i). The objective is convex in s, its derivative mean(-m·σ(-s·m)) increasing, so
    bisection on the derivative's sign finds it; s is capped where the largest |s·m| reaches
    `max_abs_logit` (every margin right: the likelihood grows without bound)."""
    m = np.asarray(margins, dtype=np.float64)
    if not len(m) or not np.isfinite(m).all():
        raise ValueError("bt_scale needs finite margins, at least one")
    if not m.mean() > 0:  # the derivative at s = 0 is -mean(m): only a positive mean has an optimum s > 0
        raise ValueError(f"the margins average {m.mean():.3g}: a head that orders its own pairs no better than "
                         "chance has no Bradley-Terry scale to calibrate")

    def slope(s):
        return float(np.mean(-m / (1.0 + np.exp(np.clip(s * m, -700, 700)))))  # -m·σ(-s·m)

    lo, hi = 0.0, max_abs_logit / np.abs(m).max()
    if slope(hi) <= 0:
        return hi
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def _batches(n: int, size: int | None, gen: torch.Generator) -> list[torch.Tensor]:
    if size is None or size >= n:
        return [torch.arange(n)]
    order = torch.randperm(n, generator=gen)
    return [order[s:s + size] for s in range(0, n, size)]
