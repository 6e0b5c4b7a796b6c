"""flock /tmp/rk-heavy.lock python benchmarks/attention.py [--rows 4] [--length 390] [--repeats 7]

Why attention is a third of a training step on a CPU: one SmolLM2 attention layer (9 heads x 64, bf16)
at the training benchmark's micro-batch shape (4 packed rows of ~390 tokens), forward and backward timed
apart, side by side in one process (kinds interleaved per repeat; medians, the first repeat dropped as
warm-up). Kinds: SDPA's flash kernel with the prompt-sharing bool mask of rows [prompt | chosen |
rejected], a third each (what training runs), SDPA with is_causal (no mask: the concatenated layout's
path), SDPA's math kernel with the same mask, and transformers' eager attention (matmul, the mask as an
additive one, softmax in fp32, matmul).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from rewardkit.training.forward import CHOSEN, PROMPT, REJECTED, shared_mask

HEADS, HEAD_DIM = 9, 64  # SmolLM2-135M


def timed(fn, q, k, v) -> tuple[float, float]:
    for t in (q, k, v):
        t.grad = None
    t0 = time.perf_counter()
    out = fn(q, k, v)
    t1 = time.perf_counter()
    out.sum().backward()
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--length", type=int, default=390)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    torch.manual_seed(0)
    q, k, v = (torch.randn(a.rows, HEADS, a.length, HEAD_DIM, dtype=torch.bfloat16, requires_grad=True)
               for _ in range(3))
    # the prompt-sharing mask of rows [prompt | chosen | rejected], a third each (rewardkit.training.forward)
    third = a.length // 3
    segments = torch.tensor([PROMPT] * third + [CHOSEN] * third + [REJECTED] * (a.length - 2 * third))
    allowed = shared_mask(segments.expand(a.rows, a.length))
    additive = torch.zeros(allowed.shape, dtype=torch.bfloat16).masked_fill(~allowed, torch.finfo(torch.bfloat16).min)

    def sdpa(backend, **kw):
        def fn(q, k, v):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, **kw)
        return fn

    def eager(q, k, v):
        w = torch.matmul(q, k.transpose(2, 3)) * HEAD_DIM**-0.5 + additive
        return torch.matmul(torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype), v)

    kinds = {"SDPA flash, prompt-sharing mask (training)": sdpa(SDPBackend.FLASH_ATTENTION, attn_mask=allowed),
             "SDPA flash, is_causal (no mask)": sdpa(SDPBackend.FLASH_ATTENTION, is_causal=True),
             "SDPA math, prompt-sharing mask": sdpa(SDPBackend.MATH, attn_mask=allowed),
             "eager (fp32 softmax)": eager}
    times = {name: [] for name in kinds}
    for _ in range(a.repeats):
        for name, fn in kinds.items():
            times[name].append(timed(fn, q, k, v))
    flops = 4 * a.rows * HEADS * a.length**2 * HEAD_DIM  # QK^T and PV, unmasked
    print(f"{a.rows} rows x {a.length} tokens, {HEADS} heads x {HEAD_DIM}, bf16, {torch.get_num_threads()} threads; "
          f"medians of {a.repeats - 1}\n")
    print("| kind | forward ms | backward ms | backward / forward | fwd+bwd GFLOP/s (unmasked count) |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        f = statistics.median(t[0] for t in ts[1:])
        b = statistics.median(t[1] for t in ts[1:])
        print(f"| {name} | {f * 1e3:.1f} | {b * 1e3:.1f} | {b / f:.1f} | {3 * flops / (f + b) / 1e9:.0f} |")


if __name__ == "__main__":
    main()
