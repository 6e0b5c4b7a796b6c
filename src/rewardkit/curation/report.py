"""The mixture report of a curation run, from its data: Table 1 per source, the Magpie task-category
table (count and share, before and after selection), the thresholds per category group, the step
counts, and Fig 3 (Magpie score distributions per source before and after the offsets) as PNG.

Written by `rewardkit curate` to OUT_DIR/report.md (+ table1.json, fig3_magpie_scores.png).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rewardkit.curation.config import ReportConfig
from rewardkit.curation.counts import CurationCounts
from rewardkit.curation.magpie import FIG3, MagpieSelect
from rewardkit.data.io import atomic_path, write_json_atomic, write_text_atomic
from rewardkit.data.pairs import PreferencePair
from rewardkit.data.stats import print_table, source_table
from rewardkit.models.tokenizers import load_tokenizer


def table1(pairs: list[PreferencePair], tokenizer=None, sample: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Table 1 per source of the final mix, then the pair-weighted total (rewardkit.data.stats.source_table),
    with the tokenizer loaded here when given by name."""
    tokenizer = load_tokenizer(tokenizer) if tokenizer is None or isinstance(tokenizer, str) else tokenizer
    return source_table(pairs, tokenizer, sample, seed)


def category_rows(select: MagpieSelect) -> list[dict[str, Any]]:
    """One row per raw task category, largest pool first: pool and kept counts with their shares."""
    pool = sum(c["pool"] for c in select.categories.values()) or 1
    kept = sum(c["kept"] for c in select.categories.values()) or 1
    rows = [{"category": name, "group": select.group_of(name), "pool": c["pool"], "pool_share": c["pool"] / pool,
             "kept": c["kept"], "kept_share": c["kept"] / kept}
            for name, c in select.categories.items()]
    return sorted(rows, key=lambda r: (-r["pool"], r["category"]))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_fmt(r.get(c), c) for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _fmt(v: Any, col: str = "") -> str:
    if isinstance(v, float) and col.endswith("share"):
        return f"{v:.1%}"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {n:,}" for k, n in v.items()) or "-"
    return "-" if v is None else str(v)


def plot_fig3(select: MagpieSelect, dest: Path, bins: int = 60) -> None:
    """Fig 3: score density per Magpie source, before (left) and after (right) the offsets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    everything = np.concatenate([np.asarray(v, dtype=float) for b, a in select.scores.values() for v in (b, a)])
    edges = np.linspace(everything.min(), everything.max(), bins + 1) if everything.size else bins
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    for ax, which, title in ((axes[0], 0, "before offsets"), (axes[1], 1, "after offsets")):
        for source, values in select.scores.items():
            offset = select.offsets.get(source, 0.0)
            label = f"{source.split('/')[-1]} (n={len(values[which]):,}" + (f", -{offset:g})" if which and offset else ")")
            ax.hist(values[which], bins=edges, density=True, histtype="step", linewidth=1.5, label=label)
        if which:  # where each category group's kept range begins
            for k, g in enumerate(s for s in select.groups.values() if s.threshold is not None):
                ax.axvline(g.threshold, color="k", linestyle=(0, (2 + 2 * k, 2)), linewidth=0.8,
                           label=f"threshold {g.group} (top {g.fraction:.0%})")
        ax.set_title(f"Magpie mean ArmoRM score, {title}")
        ax.set_xlabel("(score_chosen + score_rejected) / 2" + (" - offset" if which else ""))
    axes[0].set_ylabel("density")
    handles, labels = axes[1].get_legend_handles_labels()  # below the plots: it would hide the curves
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_mixture_report(mixed: list[PreferencePair], counts: CurationCounts, select: MagpieSelect | None, cfg: ReportConfig,
                 out: Path, console: Console) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    t1 = table1(mixed, cfg.tokenizer, cfg.token_sample)
    write_json_atomic(out / "table1.json", t1)
    paths["table1"] = out / "table1.json"
    steps = [s.model_dump() for s in counts.steps]
    md = [f"# Curation report\n\n{counts.total:,} pairs after curation.\n",
          "## Table 1: the mixture per source\n",
          f"Averages over a seeded sample of up to {cfg.token_sample:,} pairs per source; pair counts exact.\n\n"
          if cfg.token_sample else "", markdown_table(t1),
          "## Steps: kept and dropped per step and reason\n", markdown_table(steps)]

    print_table(t1, console)
    _print(console, "Curation steps", steps)
    if select is not None:
        cats = category_rows(select)
        groups = [s.as_dict() for s in select.groups.values()]
        md += ["## Magpie task categories (pool and kept)\n", markdown_table(cats),
               "## Magpie thresholds per category group\n",
               "Kept = floor(fraction x pool); `threshold` is the lowest adjusted score kept "
               "(ties at it broken by pair id).\n\n", markdown_table(groups)]
        _print(console, "Magpie task categories", cats)
        _print(console, "Magpie thresholds per group", groups)
        if cfg.figures and select.scores:
            plot_fig3(select, out / FIG3)
            paths["fig3"] = out / FIG3
            md += ["## Fig 3: Magpie score distributions before and after the offsets\n", f"![Fig 3]({FIG3})\n"]
    write_text_atomic(out / "report.md", "\n".join(md))
    paths["report"] = out / "report.md"
    return paths


def _print(console: Console, title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col, justify="left" if col in ("dataset", "category", "group", "label", "step", "dropped") else "right")
    for r in rows:
        table.add_row(*(_fmt(r.get(c), c) for c in rows[0]))
    console.print(table)
