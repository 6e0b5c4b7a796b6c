"""flock /tmp/rk-heavy.lock python benchmarks/scoring.py [--subset 100] [--reps 1]

Scoring speed of rewardkit's RewardModel vs the two ways the field scores, on the 500 shared RewardBench
rows (1,000 sequences) with SmolLM2-135M (same weights and seeded head in every method):

  rewardkit    sorted by length, batches filled to a padded-token budget, bf16 weights, inference_mode
  (a) rb-style reward-bench's rewardbench.py defaults: file order, batch 8, padded to the longest
               (left padding), the dtype it loads with on CPU (no torch_dtype -> float32); also shown in
               bf16 so the batching effect is visible apart from the dtype
  (b) demo     the Skywork model card's demo: one conversation at a time, apply_chat_template(tokenize=True),
               bf16

(a) and (b) take many minutes over all 1,000 sequences on 2 cores, so they run on a fixed random subset
of pairs (--subset, seed 0), and rewardkit is timed on the same subset for the ratios as well as on all rows.
Also printed: achieved FLOP/s (2 x non-embedding params x real tokens / s) as a share of the bf16 matmul
peak measured in the same run, and pair-order agreement between methods.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from rewardkit.models.loading import load_reward_model
from rewardkit.models.scoring import RewardModel
from rewardkit.data.sources import read_pairs
from rewardkit.models.tokenization import encode_pair, render

RB500 = Path(__file__).resolve().parents[1].parent / "shared/data/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl"


def matmul_peak(dtype=torch.bfloat16, n: int = 4096, reps: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def rb_style(model, tokenizer, convs, batch_size: int = 8) -> list[float]:
    """reward-bench: chat template as text, a text-classification pipeline over file-order batches of 8,
    left padding to the longest, the model's own last-non-pad readout."""
    tokenizer.padding_side = "left"
    texts = [render(tokenizer, c) for c in convs]
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i : i + batch_size], padding=True, return_tensors="pt", return_token_type_ids=False)
            out += model(**enc).logits[:, 0].float().tolist()
    return out


def demo_style(model, tokenizer, convs) -> list[float]:
    """The model card's demo: one conversation at a time, tokenized by apply_chat_template."""
    out = []
    with torch.no_grad():
        for c in convs:
            ids = tokenizer.apply_chat_template(c, tokenize=True, return_tensors="pt")
            ids = ids["input_ids"] if not torch.is_tensor(ids) else ids
            out.append(model(ids).logits[0][0].item())
    return out


def timed(fn, reps: int):
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return result, statistics.median(times)


def order_agreement(a: list[float], b: list[float]) -> float:
    sa = [a[i] > a[i + 1] for i in range(0, len(a), 2)]
    sb = [b[i] > b[i + 1] for i in range(0, len(b), 2)]
    return sum(x == y for x, y in zip(sa, sb)) / len(sa)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", type=int, default=100, help="pairs timed for (a), (b) and the ratios")
    ap.add_argument("--reps", type=int, default=1, help="repetitions per measurement (median reported)")
    ap.add_argument("--batch-tokens", type=int, default=8192)
    args = ap.parse_args()

    pairs, _ = read_pairs(f"rewardbench:{RB500}")
    rng = random.Random(0)
    sub = sorted(rng.sample(range(len(pairs)), args.subset))
    convs = [c for p in pairs for c in (p.chosen_conversation(), p.rejected_conversation())]
    sub_convs = [c for i in sub for c in (pairs[i].chosen_conversation(), pairs[i].rejected_conversation())]

    peak = matmul_peak()
    model, tok = load_reward_model("smollm2", seed=0, dtype="bfloat16")
    rm = RewardModel(model, tok)
    non_embed = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    lengths = [len(ids) for p in pairs for e in [encode_pair(tok, p, max_length=None)] for ids in (e.chosen_ids, e.rejected_ids)]
    sub_tokens = sum(lengths[2 * i] + lengths[2 * i + 1] for i in sub)

    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"bf16 matmul peak (4096^2, median of 5): {peak / 1e12:.2f} TFLOP/s; SmolLM2 non-embedding params "
          f"{non_embed / 1e6:.1f}M; subset = {len(sub)} random pairs (seed 0); reps = {args.reps}\n")
    print("| method | seqs | real tokens | seconds | seq/s | rewardkit speed-up | FLOP/s | % of bf16 peak | pair order = rewardkit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    ref: dict = {}

    def row(name, n, toks, fn):  # each row printed as soon as it is measured (the slow ones take minutes)
        scores, t = timed(fn, args.reps)
        flops = 2 * non_embed * toks / t
        speedup = f"{(len(sub_convs) / ref['t']) / (n / t):.1f}x" if ref and scores is not ref["scores"] else "—"
        agree = f"{100 * order_agreement(ref['scores'], scores):.0f}%" if ref and scores is not ref["scores"] else "—"
        print(f"| {name} | {n} | {toks:,} | {t:.1f} | {n / t:.2f} | {speedup} | {flops / 1e9:.0f} G | "
              f"{100 * flops / peak:.0f}% | {agree} |", flush=True)
        return scores, t

    row("rewardkit (all 1000)", len(convs), sum(lengths),
        lambda: rm.score(convs, batch_tokens=args.batch_tokens, progress=False))
    ref["scores"], ref["t"] = row(f"rewardkit (subset {len(sub_convs)})", len(sub_convs), sub_tokens,
                                  lambda: rm.score(sub_convs, batch_tokens=args.batch_tokens, progress=False))
    row("(a) rb-style bf16", len(sub_convs), sub_tokens, lambda: rb_style(model, tok, sub_convs))
    row("(b) demo bf16", len(sub_convs), sub_tokens, lambda: demo_style(model, tok, sub_convs))
    del model
    model32, tok32 = load_reward_model("smollm2", seed=0, dtype="float32")
    row("(a) rb-style fp32 (its CPU default)", len(sub_convs), sub_tokens, lambda: rb_style(model32, tok32, sub_convs))


if __name__ == "__main__":
    main()
