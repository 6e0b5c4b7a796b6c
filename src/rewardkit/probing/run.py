"""`rewardkit probe --features DIR... --out DIR`: fit a linear reward head on cached features (I/O edge).

    rewardkit features --data helpsteer2:HelpSteer.jsonl --out runs/features/helpsteer
    rewardkit probe --features runs/features/helpsteer --val-split prompt --out runs/probe-helpsteer   # seconds

Holds out `val_fraction` of the pairs (seeded; `--val-split prompt` holds out whole prompts), fits with early stopping on them, prints held-out
accuracy per source with 95% Wilson intervals beside "longer response wins", and writes probe.json.
With pooling `last` the probe is also saved as a reward model in OUT/model (the backbone + the probe as
`score.weight`) that evaluate/score/serve take as is; other poolings are experiment-only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from rewardkit.errors import UserError, check_output_dir, check_replaceable_dir, own_output_dir
from rewardkit.options import HoldOutOptions
from rewardkit.probing.options import ProbeOptions
from rewardkit.data.io import write_json_atomic
from rewardkit.data.split import held_out
from rewardkit.evaluation.heldout import accuracy_with_interval, flags
from rewardkit.models.card import update_card

EXPORT_DIR = "model"
"""The exported reward model (backbone + probe head), in OUT."""
Pooling = Literal["last", "mean", "last+mean"]


class ProbeRecipe(ProbeOptions, HoldOutOptions):
    features: list[Path] = []
    """Feature caches (rewardkit features) built from the same model; their pairs are pooled."""
    pooling: Pooling = "last"
    """Which features: `last` (the token the score head reads: exportable), `mean`, or both concatenated."""
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    """Share of the pairs held out (seeded by `seed`, drawn as `val_split` says, as training draws it) for
    early stopping and the reported accuracy."""
    export: bool = True
    """Save OUT/model when pooling is `last`."""


def pooled(caches, pooling: Pooling) -> np.ndarray:
    """[N, 2, D] features of every cache's pairs, concatenated in cache order."""
    parts = []
    for fs in caches:
        names = ["last", "mean"] if pooling == "last+mean" else [pooling]
        parts.append(np.concatenate([np.asarray(fs.array(n)) for n in names], axis=-1))
    return np.concatenate(parts)


def run_probe(cfg: ProbeRecipe, out: str | Path, log=print) -> dict:
    from rewardkit.probing.cache import load_cache
    from rewardkit.probing.export import export_probe_model
    from rewardkit.probing.probe import fit_probe

    if not cfg.features:
        raise ValueError("probe: no feature caches given (--features DIR)")
    check_output_dir(out)
    check_replaceable_dir(Path(out) / EXPORT_DIR)  # replaced at the end: refused now
    if len({Path(d).resolve() for d in cfg.features}) < len(cfg.features):  # its pairs would be held out and trained on
        raise UserError(f"--features: a cache given twice ({', '.join(map(str, cfg.features))})")
    caches = [load_cache(d) for d in cfg.features]
    models = {json.dumps(fs.manifest["config"]["model"]) for fs in caches}
    if len(models) > 1:
        raise ValueError(f"probe: the caches come from different models ({', '.join(sorted(models))})")
    x = pooled(caches, cfg.pooling)
    if not np.isfinite(x).all():  # a probe fitted on them would be NaN, and so would its exported head
        raise UserError(f"{', '.join(map(str, cfg.features))}: the {cfg.pooling} features hold NaN or inf (the model's "
                        "hidden states are not finite)")
    records = [r for fs in caches for r in fs.pairs]
    keys = range(len(x)) if cfg.val_split == "pair" else [r["prompt_id"] for r in records]
    val = np.array(held_out(keys, cfg.val_fraction, cfg.seed), dtype=int)
    train, n_val = np.setdiff1d(np.arange(len(x)), val), len(val)
    if not n_val or not len(train):
        raise UserError(f"--val-fraction {cfg.val_fraction:g} holds out {n_val} of {len(x)} pairs: the probe needs "
                        "held-out and training pairs both; change it or add pairs")
    probe, history = fit_probe(x[train, 0], x[train, 1], cfg, val=(x[val, 0], x[val, 1]) if n_val else None)
    margins = probe.scores(x[val, 0]) - probe.scores(x[val, 1])
    longer = [records[i]["chosen_chars"] - records[i]["rejected_chars"] for i in val]
    report = {}
    for source in sorted({records[i]["source"] for i in val}) + ["all"]:
        keep = [k for k, i in enumerate(val) if source in ("all", records[i]["source"])]
        report[source] = {"probe": accuracy_with_interval(flags([margins[k] for k in keep])),
                          "length_baseline": accuracy_with_interval(flags([longer[k] for k in keep]))}
        cell = report[source]["probe"]
        log(f"{source}: {cell['pairs']} held-out pairs, probe {100 * cell['accuracy']:.1f}% "
            f"[{100 * cell['ci95'][0]:.1f}, {100 * cell['ci95'][1]:.1f}], longer-wins "
            f"{100 * report[source]['length_baseline']['accuracy']:.1f}%")
    out = Path(out)
    result = {"config": json.loads(cfg.model_dump_json()), "train_pairs": len(train), "val_pairs": n_val,
              "best_epoch": history.best_epoch, "heldout": report, "weight": probe.weight.tolist()}

    own_output_dir(out)
    write_json_atomic(out / "probe.json", result)
    if cfg.export and cfg.pooling == "last":
        model = caches[0].manifest["config"]["model"]
        log(f"reward model (backbone + probe head) -> {export_probe_model(model, probe, out / EXPORT_DIR)}")
        _write_card(out / EXPORT_DIR, model, [records[i]["source"] for i in train], report)
    return result


def _write_card(model_dir: Path, base: str, train_sources: list[str], report: dict) -> None:
    """The exported probe's model card: its base model, the training pairs per source, its held-out table."""
    from rewardkit.models.loading import base_model_id

    counts = Counter(train_sources)
    mixture = [{"dataset": s, "pairs": n} for s, n in sorted(counts.items())] + [{"dataset": "Total", "pairs": len(train_sources)}]
    heldout = {s: {"model": r["probe"], "length_baseline": r["length_baseline"]} for s, r in report.items()}
    update_card(model_dir, base_model=base_model_id(base), mixture=mixture, heldout=heldout, path=str(model_dir),
                title=f"Linear-probe reward model: {model_dir.parent.name}",
                how="A linear probe head on the frozen backbone's last-token features (`rewardkit probe`).")
