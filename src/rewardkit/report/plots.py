"""The report's figures as PNG bytes (matplotlib, Agg backend, so no display is needed)."""

from __future__ import annotations

import io
import math
from collections import defaultdict

CURVES = (("loss", "loss"), ("accuracy", "accuracy"), ("margin", "margin (r_chosen - r_rejected)"))
"""The training-curve panels: the key in train_log.jsonl records and the axis label."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # file output only; never opens a window
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    _pyplot().close(fig)
    return buf.getvalue()


def training_curves(log: list[dict]) -> bytes:
    """Loss, accuracy and margin against step: every train step (line) and every validation (markers)."""
    plt = _pyplot()
    steps = [r for r in log if r.get("event") == "step"]
    evals = [r for r in log if r.get("event") == "eval"]
    fig, axes = plt.subplots(1, len(CURVES), figsize=(12, 3.4))
    for ax, (key, label) in zip(axes, CURVES):
        for records, name, style in ((steps, "train", {"linewidth": 1.2}),
                                     (evals, "validation", {"marker": "o", "linewidth": 1.5})):
            xs = [r["step"] for r in records if r.get(key) is not None]
            ys = [r[key] for r in records if r.get(key) is not None]
            if xs:
                ax.plot(xs, ys, label=name, **style)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def score_distributions(examples: list[dict], max_subsets: int = 32) -> bytes:
    """Per subset: histograms of the chosen and the rejected scores on shared bins (small multiples)."""
    plt = _pyplot()
    by_subset: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for e in examples:
        by_subset[str(e["subset"])][0].append(float(e["score_chosen"]))
        by_subset[str(e["subset"])][1].append(float(e["score_rejected"]))
    names = sorted(by_subset)[:max_subsets]
    cols = min(4, len(names)) or 1
    rows = math.ceil(len(names) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        chosen, rejected = by_subset[name]
        lo, hi = min(chosen + rejected), max(chosen + rejected)
        bins = [lo + (hi - lo) * k / 20 for k in range(21)] if hi > lo else 10
        ax.hist(chosen, bins=bins, alpha=0.55, label="chosen", color="tab:green")
        ax.hist(rejected, bins=bins, alpha=0.55, label="rejected", color="tab:red")
        wins = sum(c > r for c, r in zip(chosen, rejected))
        ax.set_title(f"{name} ({wins}/{len(chosen)} chosen higher)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
