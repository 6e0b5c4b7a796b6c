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
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rewardkit.data.sources import read_pairs  # noqa: E402
from rewardkit.evaluation.heldout import (accuracy_with_interval, flags, format_accuracy,  # noqa: E402
                                         format_difference, versus_probe)
from rewardkit.evaluation.rewardbench import SUBSET_MAPPING  # noqa: E402

CHAT, CHAT_HARD = set(SUBSET_MAPPING["Chat"]), set(SUBSET_MAPPING["Chat Hard"])
RB = "rewardbench:" + str(REPO.parent / "shared/data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl")


def per_row(results: Path) -> dict[str, tuple[str, float]]:
    examples = json.loads(results.read_text())["examples"]
    return {e["id"]: (e["subset"], e["score_chosen"] - e["score_rejected"]) for e in examples}


def heldout_pairs(run: Path, ids: list[str]) -> SimpleNamespace:
    """The run's held-out pairs in validation order (read again from the specs its train_log's `start`
    record names), shaped as versus_probe reads a validation set."""
    start = json.loads((run / "train" / "train_log.jsonl").open().readline())
    by_id = {p.id: p for read in start["reads"] for p in read_pairs(read["spec"])[0]}
    return SimpleNamespace(pairs=[by_id[i] for i in ids])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    summary = json.loads((args.run / "train" / "summary.json").read_text())
    held, margins = summary["heldout"], summary["heldout_margins"]
    if margins["probe"] is None:
        sys.exit(f"{args.run}: the run has no probe head to compare with (head_init: probe)")
    vs = summary.get("heldout_vs_probe")  # runs before it was reported: recomputed from the specs read
    vs = vs or versus_probe(heldout_pairs(args.run, margins["ids"]), margins["model"], margins["probe"])
    lpft, probe = per_row(args.run / "evaluate" / "results.json"), per_row(args.run / "evaluate-probe" / "results.json")
    rows = {p.source_id: p for p in read_pairs(RB)[0]}
    print("| | pairs | LP-FT model | frozen probe (its start) | longer wins | LP-FT − probe, paired 95% |")
    print("|---|---:|---:|---:|---:|---:|")
    for source, row in held.items():
        c = {k: format_accuracy(v) for k, v in row.items()}
        print(f"| held-out {source} | {row['model']['pairs']} | {c['model']} | {c['probe']} | {c['length_baseline']} "
              f"| {format_difference(vs[source])} |")
    for name, subsets in (("RewardBench Chat", CHAT), ("Chat Hard (unweighted)", CHAT_HARD)):
        sel = [i for i in sorted(lpft) if lpft[i][0] in subsets]
        m_l, m_p = [lpft[i][1] for i in sel], [probe[i][1] for i in sel]
        m_len = [len(rows[i].chosen) - len(rows[i].rejected) for i in sel]
        cells = " | ".join(format_accuracy(accuracy_with_interval(flags(m))) for m in (m_l, m_p, m_len))
        d = versus_probe(SimpleNamespace(pairs=[rows[i] for i in sel]), m_l, m_p)["all"]
        print(f"| {name} | {len(sel)} | {cells} | {format_difference(d)} |")


if __name__ == "__main__":
    main()
