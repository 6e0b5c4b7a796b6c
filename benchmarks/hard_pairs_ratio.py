"""python benchmarks/hard_pairs_ratio.py RUN_DIR [RUN_DIR ...]

The held-out rows of runs that differ in train.hard_pairs.ratio, one line per run: natural pairs and each
bias type (model accuracy, Wilson 95%), and the length reliance of the natural pairs (share where the
model prefers the longer response vs share where the longer one is chosen). The runs, e.g.:

    for r in 0 0.1 0.25 0.5; do flock /tmp/rk-heavy.lock rewardkit run recipes/cpu-smollm2.yaml \\
        train.hard_pairs.ratio=$r out_dir=runs/hard-pairs-ratio-$r evaluate=null; done

The held-out constructed pairs do not depend on the ratio (built from the held-out prompts, seeded), so
the rows compare like with like. The ratio is chosen here, on held-out rows only; RewardBench is not read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rewardkit.evaluation.heldout import NATURAL, format_accuracy  # noqa: E402
from rewardkit.hardpairs.config import BIAS_TYPES, SOURCE_PREFIX  # noqa: E402


def row(run: Path) -> list[str]:
    summary = json.loads((run / "train" / "summary.json").read_text())
    ratio = yaml.safe_load((run / "train" / "recipe.yaml").read_text())["hard_pairs"]["ratio"]
    held, reliance = summary["heldout"], summary["heldout_length_reliance"][NATURAL]
    cells = [format_accuracy(held[k]["model"]) if k in held else "—"
             for k in (NATURAL, *(SOURCE_PREFIX + t for t in BIAS_TYPES))]
    return [str(ratio), *cells, f"{100 * reliance['model_prefers_longer']:.1f} vs {100 * reliance['longer_chosen']:.1f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    print("| ratio | natural | " + " | ".join(BIAS_TYPES) + " | natural: model prefers longer vs longer chosen, % |")
    print("|---:|" + "---:|" * (len(BIAS_TYPES) + 2))
    for run in args.runs:
        print("| " + " | ".join(row(run)) + " |")


if __name__ == "__main__":
    main()
