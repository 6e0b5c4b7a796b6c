"""python benchmarks/probe_ablations.py {table3,sources} [--features runs/features] [--seeds 5]

Minute-scale ablations on cached SmolLM2 features (`rewardkit features`, one cache per source under
--features: helpsteer, arena, pku, hh-helpful, hh-harmless, xstest; rewardbench for reporting only).
Every probe is a linear head on the last-token feature (the exportable readout), L2 10, standardized,
300 full-batch Adam epochs (no early stopping: see `fit`).

- table3: the report's Table 3 on probes: each of the eight losses in rewardkit.losses, several
  seeds (each seed re-draws the 75/25 prompt-level split of the training pool and the initial weight), held-out accuracy and the paired bootstrap 95% interval of its difference from Bradley-Terry
  over the same held-out (seed, pair) flags, resampling whole prompts (a prompt's pairs share responses
  and a pair is held out under several seeds: neither is an independent draw); RewardBench Chat / Chat
  Hard for reporting only.
- sources: leave one source out. Each source is split 75/25 by prompt once (seed 0); a probe trained on all
  sources' 75% parts, and one per left-out source, is scored on every source's 25% part (Wilson 95%).

Prints markdown tables; writes runs/ablations/{table3,sources}.json and .png (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rewardkit.data.pairs import content_id  # noqa: E402
from rewardkit.data.sources import read_pairs  # noqa: E402
from rewardkit.data.split import held_out  # noqa: E402
from rewardkit.probing.cache import load_cache  # noqa: E402
from rewardkit.probing.probe import ProbeOptions, fit_probe  # noqa: E402
from rewardkit.evaluation.bootstrap import paired_difference  # noqa: E402
from rewardkit.evaluation.heldout import flags, wilson  # noqa: E402
from rewardkit.evaluation.rewardbench import SUBSET_MAPPING  # noqa: E402
from rewardkit.losses import LOSSES  # noqa: E402

SOURCES = ["helpsteer", "arena", "pku", "hh-helpful", "hh-harmless", "xstest"]
L2 = 10.0
"""Chosen on held-out HelpSteer prompts (5 seeds): 0.01 61.7%, 1 70.7%, 10 72.9%, 100 71.7% (BENCHMARKS.md)."""


def load(root: Path, name: str) -> tuple[np.ndarray, list[dict]] | None:
    if not (root / name / "manifest.json").is_file():
        return None
    fs = load_cache(root / name)
    return np.asarray(fs.array("last")), with_prompt_ids(fs.pairs)


def with_prompt_ids(records: list[dict]) -> list[dict]:
    """Caches built before records carried `prompt_id`: recover it from the specs (pair id -> prompt)."""
    if all("prompt_id" in r for r in records):
        return records
    prompts = {}
    for spec in {r["spec"] for r in records}:
        for p in read_pairs(spec, on_bad_row="skip")[0]:
            prompts[p.id] = content_id(p.prompt, "", "")
    return [{**r, "prompt_id": prompts[r["id"]]} for r in records]


def split(groups: list[str], seed: int, frac: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices; whole prompts held out (rewardkit.data.split.held_out, the hold-out
    `rewardkit train/probe --val-split prompt` draw): a prompt's pairs share responses, a pair split leaks."""
    held = held_out(groups, frac, seed)
    return np.setdiff1d(np.arange(len(groups)), held), np.array(held, dtype=int)


def fit(x: np.ndarray, loss: str, seed: int):
    """Probe on x [N, 2, D]: a fixed 300 full-batch Adam epochs under the L2 penalty. No early stopping:
    a 10% stopping split of a few hundred pairs made the comparison noisier than the losses' differences."""
    return fit_probe(x[:, 0], x[:, 1], ProbeOptions(loss=loss, l2=L2, seed=seed, max_epochs=300, patience=None))[0]


def correct(probe, x: np.ndarray) -> list[float]:
    return flags(list(probe.scores(x[:, 0]) - probe.scores(x[:, 1])))


def paired_bootstrap(a: list[float], b: list[float], clusters: list[str]) -> tuple[float, float]:
    """95% interval of mean(a) − mean(b), flags a[i] and b[i] scored on the same pair, resampling whole
    clusters (clusters[i]: pair i's prompt) with all their flags together."""
    by_a: dict[str, list[float]] = {}
    by_b: dict[str, list[float]] = {}
    for c, fa, fb in zip(clusters, a, b, strict=True):
        by_a.setdefault(c, []).append(fa)
        by_b.setdefault(c, []).append(fb)
    return tuple(paired_difference(by_b, by_a, np.mean, n_boot=2000)["ci95"])


def rewardbench_rows(rb) -> dict[str, np.ndarray]:
    """The shared rows of RewardBench's Chat and Chat Hard sections (evaluation.rewardbench.SUBSET_MAPPING), unweighted."""
    x, pairs = rb
    return {key: x[np.array([p["subset"] in SUBSET_MAPPING[section] for p in pairs])]
            for key, section in (("chat", "Chat"), ("chat_hard", "Chat Hard"))}


def table3(root: Path, seeds: int, pool: list[str]) -> dict:
    data = [d for d in (load(root, s) for s in pool) if d is not None]
    x = np.concatenate([d[0] for d in data])
    groups = [r["prompt_id"] for d in data for r in d[1]]
    rb = load(root, "rewardbench")
    rows = rewardbench_rows(rb) if rb else None
    splits = [split(groups, seed) for seed in range(seeds)]  # the same for every loss
    held_prompts = [groups[i] for _, te in splits for i in te]  # parallel to each loss's "heldout" flags
    results = {}
    for loss in LOSSES:
        held, chat, hard, t0 = [], [], [], time.perf_counter()
        for seed, (tr, te) in enumerate(splits):
            probe = fit(x[tr], loss, seed)
            held += correct(probe, x[te])
            if rows:
                chat.append(np.mean(correct(probe, rows["chat"])))
                hard.append(np.mean(correct(probe, rows["chat_hard"])))
        results[loss] = {"heldout": held, "chat": chat, "chat_hard": hard, "seconds": time.perf_counter() - t0}
    bt = results["bradley_terry"]["heldout"]
    print(f"\nTable 3 on probes: pool {'+'.join(pool)} ({len(x)} pairs), {seeds} seeds x 25% held out, L2 {L2}\n")
    print("| loss | held-out acc % (pairs x seeds) | Δ vs BT, paired bootstrap 95% | RewardBench Chat (358) | Chat Hard (142, unweighted) | s |")
    print("|---|---:|---:|---:|---:|---:|")
    for loss, r in results.items():
        acc = 100 * np.mean(r["heldout"])
        lo, hi = paired_bootstrap(r["heldout"], bt, held_prompts) if loss != "bradley_terry" else (0.0, 0.0)
        delta = "—" if loss == "bradley_terry" else f"{100 * (np.mean(r['heldout']) - np.mean(bt)):+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f})"
        rb_cells = [f"{100 * np.mean(r[k]):.1f}" if r[k] else "—" for k in ("chat", "chat_hard")]
        print(f"| {loss} | {acc:.1f} ({len(r['heldout'])}) | {delta} | {rb_cells[0]} | {rb_cells[1]} | {r['seconds']:.1f} |")
        r["delta_ci95"] = [lo, hi]
    return {"pool": pool, "pairs": len(x), "seeds": seeds, "l2": L2, "losses": results}


def sources(root: Path) -> dict:
    data = {s: d for s in SOURCES if (d := load(root, s)) is not None}
    parts = {s: split([r["prompt_id"] for r in pairs], 0) for s, (_, pairs) in data.items()}
    train_sets = {"all": list(data)} | {f"without {s}": [t for t in data if t != s] for s in data}
    table = {}
    for name, used in train_sets.items():
        x = np.concatenate([data[s][0][parts[s][0]] for s in used])
        probe = fit(x, "bradley_terry", 0)
        table[name] = {}
        for s, (xs, pairs) in data.items():
            f = correct(probe, xs[parts[s][1]])
            table[name][s] = {"accuracy": float(np.mean(f)), "ci95": list(wilson(sum(f), len(f))), "pairs": len(f)}
    longer = {s: float(np.mean(flags([pairs[i]["chosen_chars"] - pairs[i]["rejected_chars"] for i in parts[s][1]])))
              for s, (_, pairs) in data.items()}
    print(f"\nLeave one source out: held-out accuracy % [Wilson 95%] per source (25% of each, seed 0), L2 {L2}\n")
    print("| trained on | " + " | ".join(f"{s} ({table['all'][s]['pairs']})" for s in data) + " |")
    print("|---|" + "---:|" * len(data))
    for name, row in table.items():
        cells = [f"{100 * c['accuracy']:.1f} [{100 * c['ci95'][0]:.0f}, {100 * c['ci95'][1]:.0f}]" for c in row.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| longer response wins | " + " | ".join(f"{100 * longer[s]:.1f}" for s in data) + " |")
    return {"table": table, "length_baseline": longer, "l2": L2}


def figure(kind: str, result: dict, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    if kind == "table3":
        names = list(result["losses"])
        accs = [100 * np.mean(result["losses"][n]["heldout"]) for n in names]
        ax.bar(range(len(names)), accs)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(min(accs) - 5, max(accs) + 3)
        ax.set_ylabel("held-out accuracy (%)")
    else:
        rows, cols = list(result["table"]), list(result["length_baseline"])
        grid = np.array([[100 * result["table"][r][c]["accuracy"] for c in cols] for r in rows])
        im = ax.imshow(grid, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(cols)), cols, fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        for i in range(len(rows)):
            for j in range(len(cols)):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="w", fontsize=7)
        fig.colorbar(im, ax=ax, label="held-out accuracy (%)")
    fig.tight_layout()
    fig.savefig(dest, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["table3", "sources"])
    ap.add_argument("--features", type=Path, default=REPO / "runs" / "features")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--pool", default="helpsteer", help="comma-separated caches Table 3 trains and holds out on")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "ablations")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = table3(args.features, args.seeds, args.pool.split(",")) if args.kind == "table3" else sources(args.features)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.kind}.json").write_text(json.dumps(result, indent=1, default=float))
    figure(args.kind, result, args.out / f"{args.kind}.png")


if __name__ == "__main__":
    main()
