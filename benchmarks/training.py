"""flock /tmp/rk-heavy.lock python benchmarks/training.py [--steps 6] [--batch 8] [--micro 4] [--repeats 3] [--only NAME ...]
flock /tmp/rk-heavy.lock python benchmarks/training.py --profile [--set key=value ...]   (benchmarks/training_profile.py)

rewardkit's trainer vs TRL's RewardTrainer on the same machine, model, pairs, global batch and steps, and
rewardkit's speed settings side by side: the old default (prompt sharing, bf16 autocast over fp32
weights, for-loop AdamW), each setting on top of it, and the new default. SmolLM2-135M-Instruct, a seeded
sample of the shared HH-RLHF test pairs at their real lengths (pairs whose conversations fit TRL's
max_length 1024, since TRL drops longer ones), BT loss, AdamW, cosine. Each run is its own subprocess, so
its peak RSS is its own, and it pays its own warm-up (oneDNN kernels, optimizer states) in step 1. The
rows run interleaved, `--repeats` times (tokens/s is the median), so drifting load touches all alike.

Measured per row: the first step's loss on the same 8 pairs (separate one-step runs from the same seeded
head, in bf16 and fp32, the whole batch in one forward as TRL does: bf16 rounding depends on the batch's
shape, so only fp32 shows whether two layouts compute the same thing), tokens/s over the timed run
(tokens = the pairs' real tokens, chosen + rejected, unpadded and unshared: the same count for every run)
and over its steps 2+ (steady state: step 1 pays the warm-up, and with `compile` the compiling),
peak RSS, step 1's seconds, and steady-state achieved FLOP/s = 6 x non-embedding params x tokens / s as a
share of the bf16 matmul peak measured at the start of this run (4096^2 matmuls; useful FLOPs only: recomputation under
gradient checkpointing and padding are not counted)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from training_pairs import MAX_LENGTH, sample_pairs

from rewardkit.options import DEFAULT_MODEL

OLD_DEFAULT = {"prompt_sharing": True, "bf16_weights": False, "optimizer_impl": "for_loop"}
"""rewardkit's defaults before the speed settings: prompt sharing, bf16 autocast over fp32 weights, for-loop AdamW."""
NEW_DEFAULT = {"prompt_sharing": True, "optimizer_impl": "fused", "bf16_weights": True}
"""The defaults since the speed settings (TrainConfig), written out so the row stays what it says if they move."""
RUNS = {  # name -> worker settings; rewardkit rows: TrainConfig settings over the benchmark's batch
    "TRL RewardTrainer (defaults: grad ckpt)": {"trainer": "trl"},
    "rewardkit, old default (sharing, autocast, for-loop AdamW)": {"trainer": "rewardkit", "cfg": OLD_DEFAULT},
    "old default + fused AdamW": {"trainer": "rewardkit", "cfg": {**OLD_DEFAULT, "optimizer_impl": "fused"}},
    "old default + foreach AdamW": {"trainer": "rewardkit", "cfg": {**OLD_DEFAULT, "optimizer_impl": "foreach"}},
    "old default + bf16 weights (fp32 masters)": {"trainer": "rewardkit", "cfg": {**OLD_DEFAULT, "bf16_weights": True}},
    "old default + pad to multiple of 64": {"trainer": "rewardkit", "cfg": {**OLD_DEFAULT, "pad_to_multiple": 64}},
    "old default + micro-batch 8 (the whole batch)": {"trainer": "rewardkit", "cfg": OLD_DEFAULT, "micro": 8},
    "rewardkit, new default (sharing, fused AdamW, bf16 weights)": {"trainer": "rewardkit", "cfg": NEW_DEFAULT},
    "new default + micro-batch 8": {"trainer": "rewardkit", "cfg": NEW_DEFAULT, "micro": 8},
    "new default + concatenated (no sharing)": {"trainer": "rewardkit", "cfg": {**NEW_DEFAULT, "prompt_sharing": False}},
    "new default + pad to multiple of 64": {"trainer": "rewardkit", "cfg": {**NEW_DEFAULT, "pad_to_multiple": 64}},
    "new default + compile (regional, dynamic)": {"trainer": "rewardkit", "cfg": {**NEW_DEFAULT, "compile": True}},
    "new default + eager attention": {"trainer": "rewardkit", "cfg": {**NEW_DEFAULT, "attn_implementation": "eager"}},
}
BASE = "rewardkit, old default (sharing, autocast, for-loop AdamW)"


def bf16_peak(n: int = 4096, reps: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


# ---------------------------------------------------------------- workers (one subprocess each)
def worker_rewardkit(job: dict, pairs, out: Path) -> dict:
    from rewardkit.training import TrainConfig, train_from_config

    def cfg(steps, micro=job["micro"], bf16=True):
        return TrainConfig(**{"model": job["model"], "global_batch_size": job["batch"], "micro_batch_size": micro,
                              "lr": 1e-5, "warmup_ratio": 0.0, "epochs": 1, "max_steps": steps, "max_length": MAX_LENGTH,
                              "val_fraction": 0.0, "save_every": 10_000, "seed": 0, **job["cfg"], "bf16": bf16})

    def steps_of(run_dir):
        return [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()
                if json.loads(x)["event"] == "step"]

    first = {}
    for bf16 in (True, False) if job["first_loss"] else ():  # one forward of the whole batch, as TRL does
        run_dir = out / f"first-{bf16}"
        train_from_config(cfg(1, job["batch"], bf16), run_dir, train_pairs=pairs[: job["batch"]], val_pairs=[])
        first[bf16] = steps_of(run_dir)[0]["loss"]
    train_from_config(cfg(job["steps"]), out / "timed", train_pairs=pairs, val_pairs=[])
    steps = steps_of(out / "timed")
    return {"first_loss": first.get(True), "first_loss_fp32": first.get(False), "seconds": sum(s["seconds"] for s in steps),
            "step1_seconds": steps[0]["seconds"], "tokens": sum(s["tokens"] for s in steps), "steps": len(steps),
            "steady_tok_s": sum(s["tokens"] for s in steps[1:]) / sum(s["seconds"] for s in steps[1:])
            if len(steps) > 1 else None}


def worker_trl(job: dict, pairs, out: Path) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import RewardConfig, RewardTrainer

    from rewardkit.models.loading import load_reward_model

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.t0

    def run(subset, steps, name, bf16=True):
        model, tok = load_reward_model(job["model"], dtype="float32", seed=0)  # the same seeded head
        args = RewardConfig(output_dir=str(out / name), per_device_train_batch_size=job["batch"], max_steps=steps,
                            learning_rate=1e-5, lr_scheduler_type="cosine", warmup_steps=0, weight_decay=1e-3,
                            max_length=MAX_LENGTH, logging_steps=1, save_strategy="no", report_to=[], seed=0,
                            use_cpu=True, bf16=bf16, dataloader_num_workers=0)
        clock = Clock()
        trainer = RewardTrainer(model=model, args=args, processing_class=tok, callbacks=[clock],
                                train_dataset=Dataset.from_list([p.to_trl() for p in subset]))
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        return losses, clock.seconds

    first = run(pairs[: job["batch"]], 1, "first")[0][0] if job["first_loss"] else None
    first32 = run(pairs[: job["batch"]], 1, "first32", bf16=False)[0][0] if job["first_loss"] else None
    _, seconds = run(pairs, job["steps"], "timed")
    return {"first_loss": first, "first_loss_fp32": first32, "seconds": seconds, "step1_seconds": None,
            "tokens": job["pair_tokens"], "steps": job["steps"], "steady_tok_s": None}


def worker(job: dict) -> None:
    import torch

    torch.set_num_threads(job["threads"])
    from rewardkit.data.pairs import PreferencePair

    pairs = [PreferencePair.from_dict(d) for d in job["pairs"]]
    with tempfile.TemporaryDirectory() as tmp:
        fn = worker_trl if job["trainer"] == "trl" else worker_rewardkit
        result = fn(job, pairs, Path(tmp))
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- driver
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8, help="global batch (pairs per optimizer step)")
    ap.add_argument("--micro", type=int, default=4, help="rewardkit micro-batch (pairs per forward)")
    ap.add_argument("--only", nargs="*", help="run only these (substring of the run name)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="the backbone (a tiny one for a smoke test of this script)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (tokens/s is their median)")
    ap.add_argument("--no-first-loss", action="store_true", help="skip the one-step loss runs (timing only)")
    ap.add_argument("--trl-repeats", type=int, help="timed runs of TRL (default: --repeats; each takes minutes)")
    ap.add_argument("--profile", action="store_true", help="profile one default training step instead (torch.profiler)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig settings for --profile")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(json.loads(Path(a.worker).read_text()))
    if a.profile:
        from training_profile import profile_main

        import yaml

        return profile_main(a.batch, a.micro, {k: yaml.safe_load(v) for k, v in (x.split("=", 1) for x in a.set)})

    import torch

    from rewardkit.models.loading import load_reward_model
    from rewardkit.models.tokenization import encode_pair

    threads = torch.get_num_threads()
    peak = bf16_peak()
    pairs = sample_pairs(a.steps * a.batch)
    model, tok = load_reward_model(a.model, dtype="float32")
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
    encs = [encode_pair(tok, p, max_length=MAX_LENGTH) for p in pairs]
    pair_tokens = sum(len(e.chosen_ids) + len(e.rejected_ids) for e in encs)
    shared = sum(e.prompt_len for e in encs) / pair_tokens
    del model
    print(f"{len(pairs)} pairs, {pair_tokens} tokens (mean {pair_tokens / len(pairs):.0f}/pair, prompt share "
          f"{shared:.0%}), global batch {a.batch}, {a.steps} steps, {threads} threads; "
          f"bf16 matmul peak {peak / 1e12:.2f} TFLOP/s; non-embedding params {non_embedding / 1e6:.1f}M", flush=True)

    names = [n for n in RUNS if not a.only or any(s in n for s in a.only)]
    results: dict[str, list[dict]] = {n: [] for n in names}
    loads = [os.getloadavg()[0]]
    for rep in range(a.repeats):  # rows interleaved per repeat, so drifting load touches all of them alike
        for name in names:
            if name.startswith("TRL") and rep >= (a.trl_repeats or a.repeats):
                continue
            job = {**RUNS[name], "steps": a.steps, "batch": a.batch, "micro": RUNS[name].get("micro", a.micro),
                   "threads": threads, "pair_tokens": pair_tokens, "first_loss": rep == 0 and not a.no_first_loss,
                   "model": a.model,
                   "pairs": [p.to_dict() for p in pairs]}
            r = run_worker(job)
            if r is None:
                print(f"  {name}: failed", flush=True)
                continue
            assert r["tokens"] == pair_tokens, (name, r["tokens"], pair_tokens)
            r["tok_s"] = r["tokens"] / r["seconds"]
            results[name].append(r)
            loads.append(os.getloadavg()[0])
            print(f"  [{rep + 1}/{a.repeats}] {name}: {r['tok_s']:.0f} tok/s, {r['peak_rss_gb']:.1f} GB, "
                  f"load {loads[-1]:.1f}", flush=True)
    peak_end = bf16_peak()
    print(f"\nbf16 peak at the end {peak_end / 1e12:.2f} TFLOP/s; load average (1 min) during the run: "
          f"max {max(loads):.1f}, median {statistics.median(loads):.1f}")
    # Under load a peak measured once can be far too low (shares above 100%): use the higher of the two.
    print_table(results, 6 * non_embedding, max(peak, peak_end))


def run_worker(job: dict) -> dict | None:
    """One run in its own subprocess (its own peak RSS); None if it failed (its stderr is printed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    proc = subprocess.run([sys.executable, __file__, "--worker", f.name], capture_output=True, text=True,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    os.unlink(f.name)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(proc.stderr[-3000:], flush=True)
        return None
    return json.loads(lines[-1][7:])


def print_table(results: dict[str, list[dict]], flop_per_token: float, peak: float) -> None:
    """Medians over the repeats; first-step losses from the first repeat."""
    med = {n: statistics.median(r["tok_s"] for r in rs) for n, rs in results.items() if rs}
    steady = {n: statistics.median(r["steady_tok_s"] for r in rs) for n, rs in results.items()
              if rs and rs[0]["steady_tok_s"] is not None}
    trl_name = next((n for n in med if n.startswith("TRL")), None)
    trl = results[trl_name][0] if trl_name else None

    def ratio(n, ref, of=med):
        return f"{of[n] / of[ref]:.2f}" if n in of and ref in of else "-"

    def loss(first, key):
        if first[key] is None:
            return "-"
        return f"{first[key]:.6f}" + (f" ({abs(first[key] - trl[key]):.1e})" if trl else "")

    print("\n| run | tokens/s (median) | runs | × old default | × TRL | steps 2+ tokens/s | × old default "
          "| share of bf16 peak (steps 2+) | peak RSS GB | step 1 s "
          "| first-step loss bf16 (Δ vs TRL) | fp32 (Δ vs TRL) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for n, rs in results.items():
        if not rs:
            continue
        runs = ", ".join(f"{r['tok_s']:.0f}" for r in rs)
        step1 = "-" if rs[0]["step1_seconds"] is None else f"{statistics.median(r['step1_seconds'] for r in rs):.1f}"
        tail = (f"{steady[n]:.0f} | {ratio(n, BASE, steady)} | {flop_per_token * steady[n] / peak:.1%}"
                if n in steady else f"- | - | {flop_per_token * med[n] / peak:.1%} (all steps)")
        print(f"| {n} | {med[n]:.0f} | {runs} | {ratio(n, BASE)} | {ratio(n, trl_name)} | {tail} | "
              f"{max(r['peak_rss_gb'] for r in rs):.1f} | {step1} | "
              f"{loss(rs[0], 'first_loss')} | {loss(rs[0], 'first_loss_fp32')} |")


if __name__ == "__main__":
    main()
