"""python benchmarks/lpft_vs_probe.py RUN_DIR

After `rewardkit run recipes/cpu-smollm2.yaml` and `rewardkit evaluate --model RUN_DIR/train/probe_model
--data rewardbench:... --out RUN_DIR/evaluate-probe`: the LP-FT model against its own frozen probe (the
head it started from) and "longer response wins", on the same held-out pairs (RUN_DIR/train/summary.json,
Wilson 95%) and on the shared RewardBench rows (Chat = 358 rows, Chat Hard = its 142 rows,
unweighted; Wilson 95% per model, paired bootstrap 95% for LP-FT − probe over the same rows,
resampling whole prompts).
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


def length_rows() -> tuple[dict[str, tuple[str, float]], dict[str, str]]:
    """RewardBench row id -> (subset, len(chosen) − len(rejected)), and row id -> prompt key."""
    pairs, _ = read_pairs(RB)
    return ({p.source_id: (p.meta["subset"], len(p.chosen) - len(p.rejected)) for p in pairs},
            {p.source_id: prompt_key(p) for p in pairs})


def fmt(cell: dict) -> str:
    """An accuracy_with_interval cell (the held-out report's) as "acc [lo, hi]" in %."""
    lo, hi = cell["ci95"]
    return f"{100 * cell['accuracy']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def paired(a: dict[str, float], b: dict[str, float], prompt: dict[str, str]) -> str:
    """a − b over the same pairs (id -> flag), with a paired bootstrap 95% interval that resamples prompts,
    not pairs: pairs of one prompt (HelpSteer's ~3.6, AlpacaEval's three subsets) share responses and
    are not independent, so they move together."""
    def by_prompt(flags_by_id: dict[str, float]) -> dict[str, list[float]]:
        groups: dict[str, list[float]] = {}
        for i, f in flags_by_id.items():
            groups.setdefault(prompt[i], []).append(f)
        return groups

    d = paired_difference(by_prompt(b), by_prompt(a), np.mean, n_boot=2000)
    return f"{100 * d['diff']:+.1f} ({100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f})"


def prompt_key(pair) -> str:
    return json.dumps(pair.prompt, sort_keys=True)  # split_pairs(by="prompt")'s key


def training_prompts(run: Path) -> dict[str, str]:
    """Pair id -> prompt key for the pairs the run read (its train_log's `start` record names the specs)."""
    start = json.loads((run / "train" / "train_log.jsonl").open().readline())
    return {p.id: prompt_key(p) for read in start["reads"] for p in read_pairs(read["spec"])[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    summary = json.loads((args.run / "train" / "summary.json").read_text())
    held, margins = summary["heldout"], summary.get("heldout_margins")
    lpft, probe = per_row(args.run / "evaluate" / "results.json"), per_row(args.run / "evaluate-probe" / "results.json")
    longer, rb_prompt = length_rows()
    ids = sorted(lpft)
    print("| | held-out pairs | LP-FT model | frozen probe (its start) | longer wins | LP-FT − probe, paired 95% |")
    print("|---|---:|---:|---:|---:|---:|")
    for source, row in held.items():
        c = {k: fmt(v) for k, v in row.items()}
        delta = ""
        if source == "all" and margins and margins.get("probe"):
            delta = paired(dict(zip(margins["ids"], flags(margins["model"]))),
                           dict(zip(margins["ids"], flags(margins["probe"]))), training_prompts(args.run))
        print(f"| held-out {source} | {row['model']['pairs']} | {c['model']} | {c.get('probe', '—')} | {c['length_baseline']} | {delta} |")
    for name, keep in (("RewardBench Chat", lambda s: s in CHAT), ("Chat Hard (unweighted)", lambda s: s in CHAT_HARD)):
        sel = [i for i in ids if keep(lpft[i][0])]
        f_l, f_p = flags([lpft[i][1] for i in sel]), flags([probe[i][1] for i in sel])
        f_len = flags([longer[i][1] for i in sel])
        cells = " | ".join(fmt(accuracy_with_interval(f)) for f in (f_l, f_p, f_len))
        print(f"| {name} | {len(sel)} | {cells} | {paired(dict(zip(sel, f_l)), dict(zip(sel, f_p)), rb_prompt)} |")


if __name__ == "__main__":
    main()
