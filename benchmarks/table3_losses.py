"""flock /tmp/rk-heavy.lock python benchmarks/table3_losses.py [--losses bradley_terry,focal] [--pairs 480]

The report's Table 3 (section 4.2: Bradley-Terry vs seven loss variants on RewardBench) in its layout, at
the scale this CPU machine allows. For each loss in `rewardkit.losses.LOSSES`, with the loss's default
parameters (read from its signature and printed), the MiniLM backbone (22.7M params) is trained by
`rewardkit.training.train_from_config` on the same seeded sample of the shared HH-RLHF test pairs (all four
splits, bad rows skipped), with the same seed (so the same fresh head and batch order), steps and
optimizer. Each model then scores the shared 500 RewardBench rows (`rewardkit.models.scoring.RewardModel`) and a
held-out HH-RLHF sample; `rewardkit.evaluation.rewardbench` turns the scores into sections and bootstrap intervals.

What this can show: that every loss trains end to end through the same loop and how its numbers move
relative to Bradley-Terry on identical data, with paired bootstrap intervals saying whether a difference
is larger than the noise of these few rows. What it cannot show: the report's numbers (8B/27B models,
80K curated pairs, 2 epochs, full RewardBench). The 500 rows hold all of Chat but only part of Chat Hard
(mt-bench-hard, llmbar-natural and 5 llmbar-adver-neighbor rows) and no Safety or Reasoning, so no Avg.

Output: a markdown table on stdout and every number in runs/table3-losses/results.json (per loss: params,
train summary, per-subset accuracy, sections, intervals). Each run's log stays in runs/table3-losses/<loss>/
(its model/ is deleted after scoring unless --keep-models).
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import random
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
HH = SHARED / "hh-rlhf-test"
RB = SHARED / "rewardbench-filtered-first500" / "reward_bench_filtered_sample.jsonl"

# Table 3 of the report (Avg, Chat, Chat Hard, Safety, Reasoning), keyed by rewardkit's loss names.
REPORT_TABLE3 = {
    "bradley_terry": (93.8, 95.8, 91.4, 92.0, 96.1),
    "focal": (93.6, 94.3, 91.8, 92.0, 96.5),
    "focal_with_penalty": (93.4, 93.9, 91.5, 92.0, 96.5),
    "hinge": (93.3, 94.1, 90.2, 92.6, 96.3),
    "margin_mse": (92.3, 90.2, 89.0, 93.3, 96.7),
    "cross_entropy": (87.6, 74.9, 87.3, 94.0, 94.5),
    "tempered_log": (92.9, 96.4, 87.4, 91.8, 96.2),
    "temperature_bt": (93.7, 94.3, 91.7, 92.7, 96.3),
}
CHAT_HARD_PRESENT = ("mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor")


def loss_defaults(name: str) -> dict[str, float]:
    """The keyword parameters of LOSSES[name] and their defaults (what TrainConfig uses with no loss_params)."""
    from rewardkit.losses import LOSSES

    params = inspect.signature(LOSSES[name]).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def paired_bootstrap_diff(a: list[int], b: list[int], *, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """mean(a) - mean(b) for 0/1 flags on the same rows, with a percentile 95% interval from resampling
    rows (both models together, so the shared difficulty of a row cancels)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired bootstrap needs two equal, non-empty flag lists (got {len(a)} and {len(b)})")
    n, rng = len(a), random.Random(seed)
    diffs = [x - y for x, y in zip(a, b)]
    boots = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    return sum(diffs) / n, boots[int(0.025 * n_boot)], boots[min(n_boot - 1, int(0.975 * n_boot))]


def read_data(out_dir: Path, args) -> tuple[list, list, list, dict]:
    """(train pool, held-out HH sample, RewardBench pairs, read reports). The hold-out is taken before
    the trainer samples `--pairs`, so no held-out pair can be trained on."""
    from rewardkit.data.sources import read_pairs
    from rewardkit.data.split import sample_pairs, split_pairs

    pool, reports = [], {}
    for split in sorted(p.name for p in HH.iterdir() if p.is_dir()):
        pairs, report = read_pairs(f"hh_rlhf:{HH / split}", on_bad_row="skip",
                                   quarantine=out_dir / f"quarantine-{split}.jsonl")
        pool += pairs
        reports[split] = report.as_dict()
    train_pool, held = split_pairs(pool, 0.1, args.seed)
    held = sample_pairs(held, args.heldout, args.seed)
    rb, report = read_pairs(f"rewardbench:{RB}", on_bad_row="error")
    reports["rewardbench"] = report.as_dict()
    return train_pool, held, rb, reports


def train_config(loss: str, args):
    from rewardkit.training import TrainConfig

    return TrainConfig(
        model="minilm", data=[f"hh_rlhf:{HH}"], on_bad_row="skip", val_fraction=0.0, max_pairs=args.pairs,
        max_length=args.max_length, epochs=1, global_batch_size=args.batch, micro_batch_size=min(8, args.batch),
        lr=args.lr, warmup_ratio=0.1, loss=loss, seed=args.seed,
        save_every=10**6, log_every=10**6,  # no mid-run checkpoints or progress lines: the runs are short
    )


def run_loss(loss: str, train_pool, held, rb, out_dir: Path, args) -> dict:
    """Train one loss, score RewardBench and the held-out pairs, and summarize."""
    from rewardkit.evaluation.bootstrap import mean_interval
    from rewardkit.evaluation.rewardbench import accuracy, is_correct, summarize
    from rewardkit.models.scoring import RewardModel
    from rewardkit.training import train_from_config

    run_dir = out_dir / loss
    cfg = train_config(loss, args)
    t0 = time.perf_counter()
    # The pairs are passed in (read once for all losses); val_pairs=[]: held-out accuracy is scored
    # below, with intervals, rather than by the trainer.
    model_dir = train_from_config(cfg, run_dir, train_pairs=train_pool, val_pairs=[])
    wall = time.perf_counter() - t0
    summary = json.loads((run_dir / "summary.json").read_text())
    steps = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in steps if r.get("event") == "step"]

    t1 = time.perf_counter()
    rm = RewardModel.load(model_dir, dtype="bfloat16")
    rb_scores = rm.score_pairs(rb, max_length=args.eval_max_length, progress=False)
    rb_truncated = rm.truncated
    held_scores = rm.score_pairs(held, max_length=args.eval_max_length, progress=False)
    held_truncated = rm.truncated
    score_seconds = time.perf_counter() - t1
    del rm
    if not args.keep_models:
        shutil.rmtree(model_dir)

    examples = [{"id": p.source_id or p.id, "subset": p.meta.get("subset"), "score_chosen": c, "score_rejected": r}
                for p, (c, r) in zip(rb, rb_scores)]
    rb_summary = summarize(examples)
    chat_hard_rows = [e for e in examples if e["subset"] in CHAT_HARD_PRESENT]
    held_flags = [is_correct(c, r) for c, r in held_scores]
    return {
        "loss": loss, "loss_params": loss_defaults(loss), "train_config": cfg.model_dump(mode="json"),
        "train_summary": summary, "train_wall_seconds": wall, "score_seconds": score_seconds,
        "first_step_loss": losses[0] if losses else None, "last_step_loss": losses[-1] if losses else None,
        "rewardbench": {"subsets": rb_summary["subsets"], "sections": rb_summary["sections"],
                        "chat_hard_rows_unweighted": accuracy(chat_hard_rows), "truncated_pairs": rb_truncated},
        "rewardbench_flags": {e["id"]: is_correct(e["score_chosen"], e["score_rejected"]) for e in examples},
        "heldout": {"n": len(held_flags), "accuracy": sum(held_flags) / len(held_flags),
                    "ci95": list(mean_interval(held_flags, seed=args.seed)), "truncated_pairs": held_truncated},
        "heldout_flags": held_flags,
    }


def section_flags(result: dict, rb, subsets) -> list[int]:
    return [result["rewardbench_flags"][p.source_id or p.id] for p in rb if p.meta.get("subset") in subsets]


def print_table(results: list[dict], rb, n_rows: dict) -> list[str]:
    """Markdown lines: Table 3's columns for the sections present, held-out HH, time, the report's numbers."""
    from rewardkit.evaluation.rewardbench import SUBSET_MAPPING

    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    base = next((r for r in results if r["loss"] == "bradley_terry"), None)
    lines = [
        f"| loss (default params) | Chat ({n_rows['chat']} rows) | Δ Chat vs BT (95% CI) | Chat Hard* | "
        f"Chat Hard rows ({n_rows['chat_hard']}, unweighted) | HH held-out ({n_rows['held']}) (95% CI) | "
        "Δ HH vs BT (95% CI) | train s | report Chat | report Chat Hard |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        params = ", ".join(f"{k}={v:g}" for k, v in r["loss_params"].items()) or "—"
        sec = r["rewardbench"]["sections"]
        held = r["heldout"]
        deltas = []
        for flags_of in (lambda x: section_flags(x, rb, SUBSET_MAPPING["Chat"]), lambda x: x["heldout_flags"]):
            if base is None or r is base:
                deltas.append("—")
            else:
                d, lo, hi = paired_bootstrap_diff(flags_of(r), flags_of(base))
                deltas.append(f"{100 * d:+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f})")
        report = REPORT_TABLE3.get(r["loss"])
        lines.append(
            f"| {r['loss']} ({params}) | {pct(sec['Chat'])} | {deltas[0]} | {pct(sec['Chat Hard'])} | "
            f"{pct(r['rewardbench']['chat_hard_rows_unweighted'])} | {pct(held['accuracy'])} "
            f"({pct(held['ci95'][0])}–{pct(held['ci95'][1])}) | {deltas[1]} | "
            f"{r['train_summary']['train_seconds_this_process']:.0f} | "
            f"{report[1] if report else '—'} | {report[2] if report else '—'} |"
        )
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    from rewardkit.data.io import write_json_atomic
    from rewardkit.losses import LOSSES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--losses", default=",".join(LOSSES), help="comma-separated names in rewardkit.losses.LOSSES")
    ap.add_argument("--pairs", type=int, default=480, help="training pairs (a seeded sample, the same for every loss)")
    ap.add_argument("--batch", type=int, default=16, help="global batch (pairs per optimizer step)")
    ap.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (cosine, 10%% warmup)")
    ap.add_argument("--max-length", type=int, default=256, help="training tokens per conversation")
    ap.add_argument("--eval-max-length", type=int, default=512, help="scoring tokens per conversation (MiniLM's positions)")
    ap.add_argument("--heldout", type=int, default=300, help="held-out HH-RLHF pairs scored")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "table3-losses")
    ap.add_argument("--keep-models", action="store_true", help="keep each run's model/ directory")
    args = ap.parse_args()
    losses = [s.strip() for s in args.losses.split(",") if s.strip()]
    unknown = [n for n in losses if n not in LOSSES]
    if unknown:
        ap.error(f"unknown loss(es) {unknown}; choose from {', '.join(LOSSES)}")

    import torch

    t_all = time.perf_counter()
    train_pool, held, rb, reports = read_data(args.out, args)
    print(f"HH-RLHF: {len(train_pool)} pairs in the training pool, {args.pairs} sampled per run, "
          f"{len(held)} held out; RewardBench rows: {len(rb)}; torch threads {torch.get_num_threads()}", flush=True)
    results = []
    for loss in losses:
        r = run_loss(loss, train_pool, held, rb, args.out, args)
        s = r["train_summary"]
        print(f"{loss}: {s['steps']} steps, {s['tokens_seen']} tokens in {s['train_seconds_this_process']:.1f} s "
              f"({s['tokens_seen'] / s['train_seconds_this_process']:.0f} tok/s), loss {r['first_step_loss']:.4f} -> "
              f"{r['last_step_loss']:.4f}; scoring {r['score_seconds']:.1f} s; Chat "
              f"{100 * r['rewardbench']['sections']['Chat']:.1f}, held-out {100 * r['heldout']['accuracy']:.1f}", flush=True)
        results.append(r)
    from rewardkit.evaluation.rewardbench import SUBSET_MAPPING

    n_rows = {"chat": sum(p.meta.get("subset") in SUBSET_MAPPING["Chat"] for p in rb),
              "chat_hard": sum(p.meta.get("subset") in CHAT_HARD_PRESENT for p in rb), "held": len(held)}
    print()
    lines = print_table(results, rb, n_rows)
    total = time.perf_counter() - t_all
    print(f"\n*Chat Hard: official section weighting over the subsets present ({', '.join(CHAT_HARD_PRESENT)}); "
          f"the 5 llmbar-adver-neighbor rows carry that subset's weight 134 of 271, so this column moves in steps "
          f"of ~10 points. Total wall time {total:.0f} s.", flush=True)
    out = args.out / "results.json"
    write_json_atomic(out, {
        "command": "python benchmarks/table3_losses.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "keep_models")),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "python": platform.python_version(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "reads": reports, "n_rows": n_rows, "report_table3": REPORT_TABLE3, "table": lines,
        "total_seconds": total, "results": results,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
