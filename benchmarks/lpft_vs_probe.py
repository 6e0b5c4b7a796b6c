"""python benchmarks/lpft_vs_probe.py RUN_DIR

After `rewardkit run recipes/cpu-smollm2.yaml` and `rewardkit evaluate --model RUN_DIR/train/probe_model
--data rewardbench:... --out RUN_DIR/evaluate-probe`: the LP-FT model against its own frozen probe (the
head it started from) and "longer response wins", on the same held-out pairs (RUN_DIR/train/summary.json,
Wilson 95%) and on the shared RewardBench rows (Chat = 358 rows, Chat Hard = its 142 rows,
unweighted; Wilson 95% per model, paired bootstrap 95% for LP-FT − probe over the same rows).
RewardBench is reported only: nothing in the run was chosen by it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rewardkit.data.sources import read_pairs  # noqa: E402
from rewardkit.evaluation.bootstrap import paired_difference  # noqa: E402
from rewardkit.evaluation.heldout import accuracy_with_interval, flags  # noqa: E402
from rewardkit.evaluation.rewardbench import SUBSET_MAPPING  # noqa: E402

CHAT, CHAT_HARD = set(SUBSET_MAPPING["Chat"]), set(SUBSET_MAPPING["Chat Hard"])
RB = "rewardbench:" + str(REPO.parent / "shared/data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl")


def per_row(results: Path) -> dict[str, tuple[str, float]]:
    examples = json.loads(results.read_text())["examples"]
    return {e["id"]: (e["subset"], e["score_chosen"] - e["score_rejected"]) for e in examples}


def length_rows() -> dict[str, tuple[str, float]]:
    pairs, _ = read_pairs(RB)
    return {p.source_id: (p.meta["subset"], len(p.chosen) - len(p.rejected)) for p in pairs}


def fmt(cell: dict) -> str:
    """An accuracy_with_interval cell (the held-out report's) as "acc [lo, hi]" in %."""
    lo, hi = cell["ci95"]
    return f"{100 * cell['accuracy']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def paired(a: dict[str, float], b: dict[str, float]) -> str:
    """a − b over the same units (id -> flag), with the paired bootstrap 95% interval evaluate uses."""
    d = paired_difference({k: [v] for k, v in b.items()}, {k: [v] for k, v in a.items()}, np.mean, n_boot=2000)
    return f"{100 * d['diff']:+.1f} ({100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    summary = json.loads((args.run / "train" / "summary.json").read_text())
    held, margins = summary["heldout"], summary.get("heldout_margins")
    lpft, probe = per_row(args.run / "evaluate" / "results.json"), per_row(args.run / "evaluate-probe" / "results.json")
    longer = length_rows()
    ids = sorted(lpft)
    print("| | held-out pairs | LP-FT model | frozen probe (its start) | longer wins | LP-FT − probe, paired 95% |")
    print("|---|---:|---:|---:|---:|---:|")
    for source, row in held.items():
        c = {k: fmt(v) for k, v in row.items()}
        delta = ""
        if source == "all" and margins and margins.get("probe"):
            delta = paired(dict(zip(margins["ids"], flags(margins["model"]))),
                           dict(zip(margins["ids"], flags(margins["probe"]))))
        print(f"| held-out {source} | {row['model']['pairs']} | {c['model']} | {c.get('probe', '—')} | {c['length_baseline']} | {delta} |")
    for name, keep in (("RewardBench Chat", lambda s: s in CHAT), ("Chat Hard (unweighted)", lambda s: s in CHAT_HARD)):
        sel = [i for i in ids if keep(lpft[i][0])]
        f_l, f_p = flags([lpft[i][1] for i in sel]), flags([probe[i][1] for i in sel])
        f_len = flags([longer[i][1] for i in sel])
        cells = " | ".join(fmt(accuracy_with_interval(f)) for f in (f_l, f_p, f_len))
        print(f"| {name} | {len(sel)} | {cells} | {paired(dict(zip(sel, f_l)), dict(zip(sel, f_p)))} |")


if __name__ == "__main__":
    main()
