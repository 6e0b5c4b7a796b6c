"""Held-out accuracy per source with 95% Wilson intervals, beside the frozen probe and "longer wins",
and the model − probe difference with a paired interval over prompts (`versus_probe`).

Pure functions of per-pair margins (r_chosen − r_rejected, in validation-set order) plus the printing
and the learning-curve figure at the edge.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from rewardkit.data.split import prompt_key
from rewardkit.hardpairs.config import SOURCE_PREFIX
from rewardkit.recipe import StrictModel

Z95 = 1.959963984540054


def wilson(correct: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion correct/n (Wilson 1927); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    # exact at the ends (p = 0 or 1 make one bound 0 or 1 analytically; floats land 1e-16 inside)
    return (0.0 if correct == 0 else lo), (1.0 if correct == n else hi)


def ranked_right(chosen, rejected):
    """Per pair: 1 if r_chosen > r_rejected, ½ for a tie, 0 wrong; floats, numpy arrays or torch tensors
    alike (a tensor in gives a float tensor out). The one accuracy rule of held-out reports, training
    steps and validations, and probes: a constant model (a zero head, an input the model cannot tell
    apart) reads 50%, not 0%."""
    return (chosen > rejected) * 1.0 + (chosen == rejected) * 0.5


def flags(margins: list[float]) -> list[float]:
    """`ranked_right` of each margin r_chosen − r_rejected."""
    return [float(ranked_right(m, 0.0)) for m in margins]


class AccuracyCell(StrictModel):
    """One accuracy with its Wilson 95% interval (`accuracy_with_interval`)."""

    accuracy: float | None
    ci95: list[float]
    pairs: int


class ProbeDifference(StrictModel):
    """Model − probe held-out accuracy with a paired interval over prompts (`versus_probe`)."""

    diff: float | None
    ci95: list[float] | None
    """None when the source has one held-out prompt (resampling one unit has no spread)."""
    prompts: int


def accuracy_with_interval(f: list[float]) -> dict:
    lo, hi = wilson(sum(f), len(f))
    return {"accuracy": sum(f) / len(f) if f else None, "ci95": [lo, hi], "pairs": len(f)}


NATURAL = "natural"
"""The row of the pairs read from data, when the held-out set also has constructed ones (rewardkit.hardpairs)."""


REJECTED_LONGER = "rejected longer"
"""The row of every held-out pair, read or constructed, whose rejected response is the longer one: where
"the longer response wins" is wrong by construction, so a length detector reads 0% there."""


def _by_source(pairs) -> dict[str, list[int]]:
    """Source -> indices of its pairs (a constructed pair's source names its bias type), then "natural"
    (every read pair) when constructed pairs are present, then "rejected longer" (when any pair's
    rejected response is longer, in characters), then "all"."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        groups[p.source].append(i)
    natural = [i for i, p in enumerate(pairs) if not p.source.startswith(SOURCE_PREFIX)]
    if len(natural) < len(pairs):
        groups[NATURAL] = natural
    rejected_longer = [i for i, p in enumerate(pairs) if len(p.rejected) > len(p.chosen)]
    if rejected_longer:
        groups[REJECTED_LONGER] = rejected_longer
    groups["all"] = list(range(len(pairs)))
    return groups


def prefers_longer(margins: list[float], longer: list[float]) -> list[float]:
    """Per pair with responses of different lengths: 1 when the scorer ranks the longer response higher,
    0 when the shorter, ½ on a tie (`flags` of the longer response's margin over the shorter one).
    `longer`: len(chosen) − len(rejected) in characters, never 0 here."""
    return flags([m if d > 0 else -m for m, d in zip(margins, longer)])


def length_reliance(pairs, margins: list[float], probe_margins: list[float] | None) -> dict:
    """{group: {pairs, longer_chosen, model_prefers_longer, probe_prefers_longer?}} over the held-out
    pairs whose responses differ in length: how often the longer response is the chosen one, beside how
    often each scorer prefers the longer one. A scorer that ranks by length alone shows 1.0 whatever
    the data; one that follows the labels shows the data's own share."""
    out = {}
    for g, idx in _by_source(pairs).items():
        idx = [i for i in idx if len(pairs[i].chosen) != len(pairs[i].rejected)]
        diffs = [len(pairs[i].chosen) - len(pairs[i].rejected) for i in idx]
        row = {"pairs": len(idx), "longer_chosen": sum(d > 0 for d in diffs) / len(idx) if idx else None}
        for name, m in (("model", margins), ("probe", probe_margins)):
            if m is not None:
                f = prefers_longer([m[i] for i in idx], diffs)
                row[f"{name}_prefers_longer"] = sum(f) / len(f) if f else None
        out[g] = row
    return out


def heldout_report(val_set, margins: list[float], probe_margins: list[float] | None) -> dict:
    """{source: {model, length_baseline, probe?}} and "all", each accuracy + Wilson 95% interval."""
    longer = [len(p.chosen) - len(p.rejected) for p in val_set.pairs]
    columns = {"model": flags(margins), "length_baseline": flags(longer)}
    if probe_margins is not None:
        columns["probe"] = flags(probe_margins)
    return {g: {name: accuracy_with_interval([col[i] for i in idx]) for name, col in columns.items()}
            for g, idx in _by_source(val_set.pairs).items()}


def _grouped(values: list[float], keys: list[str], idx: list[int]) -> dict[str, list[float]]:
    """values[i] for i in idx, grouped by keys[i] (the bootstrap's units)."""
    groups: dict[str, list[float]] = {}
    for i in idx:
        groups.setdefault(keys[i], []).append(values[i])
    return groups


def versus_probe(val_set, margins: list[float], probe_margins: list[float], n_boot: int = 2000) -> dict:
    """{source: {diff, ci95, prompts}} and "all": the fine-tuned model's held-out accuracy minus its
    probe's on the same pairs, with a paired bootstrap 95% interval that resamples whole prompts
    (HelpSteer's ~3.6 pairs per prompt share responses; resampling pairs would draw it too narrow).
    A source with one held-out prompt has no interval (None): resampling one unit has no spread."""
    from rewardkit.evaluation.bootstrap import paired_difference

    model, probe = flags(margins), flags(probe_margins)
    keys = [prompt_key(p) for p in val_set.pairs]
    out = {}
    for g, idx in _by_source(val_set.pairs).items():
        d = paired_difference(_grouped(probe, keys, idx), _grouped(model, keys, idx), lambda f: sum(f) / len(f),
                              n_boot=n_boot)
        out[g] = {"diff": d["diff"], "ci95": d["ci95"] if d["n"] > 1 else None, "prompts": d["n"]}  # 1: no spread
    return out


def format_accuracy(cell: dict) -> str:
    """An accuracy_with_interval cell as "acc [lo, hi]" in %."""
    lo, hi = cell["ci95"]
    return f"{100 * cell['accuracy']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def format_difference(cell: dict) -> str:
    """A versus_probe cell as "+d (lo, hi)" in points."""
    if cell["ci95"] is None:
        return f"{100 * cell['diff']:+.1f} (one prompt: no interval)"
    lo, hi = cell["ci95"]
    return f"{100 * cell['diff']:+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f})"


def print_length_reliance(reliance: dict) -> None:
    names = [n for n in ("model", "probe") if f"{n}_prefers_longer" in reliance["all"]]
    print("length reliance, % of held-out pairs with responses of different lengths")
    print("  " + " | ".join(["source", "pairs", "longer is chosen", *[f"{n} prefers longer" for n in names]]))
    pct = lambda x: "—" if x is None else f"{100 * x:.1f}"  # noqa: E731
    for source, row in reliance.items():
        cells = [pct(row["longer_chosen"]), *[pct(row[f"{n}_prefers_longer"]) for n in names]]
        print("  " + " | ".join([source, str(row["pairs"]), *cells]))


def print_heldout(report: dict, out_dir: Path, vs_probe: dict | None = None) -> None:
    """The per-source table (with model − probe when there is a probe) and the learning curve (from
    train_log.jsonl) on the console and as a PNG."""
    names = [n for n in ("model", "probe", "length_baseline") if n in report["all"]]
    print("held-out accuracy, % [95% Wilson interval]" + ("; model − probe, paired 95% (prompts resampled)"
                                                         if vs_probe else ""))
    print("  " + " | ".join(["source", "pairs", *names, *(["model − probe"] if vs_probe else [])]))
    for source, row in report.items():
        cells = [format_accuracy(row[n]) for n in names] + ([format_difference(vs_probe[source])] if vs_probe else [])
        print("  " + " | ".join([source, str(row["model"]["pairs"]), *cells]))
    curve = learning_curve(out_dir / "train_log.jsonl")
    print("learning curve (validation): step, pairs seen, accuracy %")
    for r in curve:
        print(f"  {r['step']:>5} {r['pairs_seen']:>7} {100 * r['accuracy']:.1f}{'  (probe head, before fine-tuning)' if r.get('probe') else ''}")
    plot_learning_curve(curve, out_dir / "learning_curve.png")


def learning_curve(log_path: Path) -> list[dict]:
    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("event") == "eval"]


def plot_learning_curve(curve: list[dict], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["pairs_seen"] for r in curve], [100 * r["accuracy"] for r in curve], marker="o")
    ax.set_xlabel("training pairs seen")
    ax.set_ylabel("held-out accuracy (%)")
    ax.axhline(50, color="grey", lw=0.5)
    fig.tight_layout()
    fig.savefig(dest, dpi=120)
    plt.close(fig)
