"""python benchmarks/hard_pairs_ratio.py RUN_DIR [RUN_DIR ...] [--paired]

The held-out rows of runs that differ in train.hard_pairs.ratio (or in backbone), one line per run:
natural pairs and each bias type (model accuracy, Wilson 95%), and the length reliance of the natural
pairs (share where the model prefers the longer response vs share where the longer one is chosen);
`--paired` adds each run minus the first, row by row, with a paired interval over held-out prompts. The
runs, e.g.:

    for r in 0 0.1 0.25 0.5; do flock /tmp/rk-heavy.lock rewardkit run recipes/cpu-smollm2.yaml \\
        train.hard_pairs.ratio=$r out_dir=runs/hard-pairs-ratio-$r evaluate=null; done

The held-out constructed pairs do not depend on the ratio (built from the held-out prompts, seeded), so
the rows compare like with like. The ratio is chosen here, on held-out rows only; RewardBench is not read.

"rejected longer" is every held-out pair whose rejected response is the longer one. A run written before
summary.json had that row gets it from its per-pair margins (`heldout_margins`) and its held-out pairs,
built again from the run's recipe.yaml and data the way the run built them (hold-out, then the held-out
constructions; seeded, so the same pairs: their ids are checked against the margins').
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rewardkit.evaluation.heldout import (  # noqa: E402
    NATURAL,
    REJECTED_LONGER,
    format_accuracy,
    format_difference,
    heldout_report,
    versus_probe,
)
from rewardkit.hardpairs.config import BIAS_TYPES, SOURCE_PREFIX  # noqa: E402


def row(run: Path) -> list[str]:
    summary = json.loads((run / "train" / "summary.json").read_text())
    recipe = yaml.safe_load((run / "train" / "recipe.yaml").read_text())
    held, reliance = summary["heldout"], summary["heldout_length_reliance"][NATURAL]
    if REJECTED_LONGER not in held:
        held[REJECTED_LONGER] = rejected_longer(recipe, summary["heldout_margins"])
    cells = [format_accuracy(held[k]["model"]) if k in held else "—"
             for k in (NATURAL, *(SOURCE_PREFIX + t for t in BIAS_TYPES), REJECTED_LONGER)]
    return [run.name, str(recipe.get("model", "smollm2")), str(recipe["hard_pairs"]["ratio"]), *cells,
            f"{100 * reliance['model_prefers_longer']:.1f} vs {100 * reliance['longer_chosen']:.1f}"]


def rejected_longer(recipe: dict, margins: dict) -> dict:
    """The run's "rejected longer" row of the held-out report (model, probe and "longer wins" cells), from
    its held-out pairs built again and its saved margins."""
    from types import SimpleNamespace

    val = heldout_pairs(recipe, margins["ids"])
    return heldout_report(SimpleNamespace(pairs=val), margins["model"], margins["probe"])[REJECTED_LONGER]


def heldout_pairs(recipe: dict, ids: list[str]) -> list:
    """A run's held-out pairs (natural and constructed), built again from its recipe.yaml's train section
    and data the way the run built them; `ids` (the run's `heldout_margins` ids) must match."""
    from rewardkit.data.sources import read_pairs
    from rewardkit.training import TrainConfig
    from rewardkit.training.setup import split_and_sample

    cfg = TrainConfig.model_validate(recipe)
    cfg = cfg.model_copy(update={"hard_pairs": cfg.hard_pairs.model_copy(update={"ratio": 0.0})})  # held-out side only
    pairs = [p for spec in cfg.data for p in read_pairs(spec, on_bad_row=cfg.on_bad_row)[0]]
    val = split_and_sample(cfg, pairs, None)[1]
    if [p.id for p in val] != ids:
        raise SystemExit("the held-out pairs built again differ from the run's: not the same data or code")
    return val


def paired(base: Path, run: Path) -> list[str]:
    """`run` minus `base` per row, with the paired 95% interval over held-out prompts (both runs must
    hold out the same pairs: the same data, seed and constructions, any backbone)."""
    from types import SimpleNamespace

    a, b = (json.loads((r / "train" / "summary.json").read_text())["heldout_margins"] for r in (base, run))
    if a["ids"] != b["ids"]:
        raise SystemExit(f"{base} and {run} hold out different pairs: no paired comparison")
    val = heldout_pairs(yaml.safe_load((run / "train" / "recipe.yaml").read_text()), b["ids"])
    diff = versus_probe(SimpleNamespace(pairs=val), b["model"], a["model"])
    return [f"{run.name} − {base.name}", *(format_difference(diff[k]) if k in diff else "—"
                                          for k in (NATURAL, *(SOURCE_PREFIX + t for t in BIAS_TYPES), REJECTED_LONGER, "all"))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--paired", action="store_true", help="then each run minus the first, paired over prompts")
    args = ap.parse_args()
    print("| run | model | ratio | natural | " + " | ".join(BIAS_TYPES) + f" | {REJECTED_LONGER} | natural: model "
          "prefers longer vs longer chosen, % |")
    print("|---|---|---:|" + "---:|" * (len(BIAS_TYPES) + 3))
    for run in args.runs:
        print("| " + " | ".join(row(run)) + " |")
    if args.paired:
        print("\n| difference (paired 95%, prompts) | natural | " + " | ".join(BIAS_TYPES) + f" | {REJECTED_LONGER} | all |")
        print("|---|" + "---:|" * (len(BIAS_TYPES) + 3))
        for run in args.runs[1:]:
            print("| " + " | ".join(paired(args.runs[0], run)) + " |")


if __name__ == "__main__":
    main()
