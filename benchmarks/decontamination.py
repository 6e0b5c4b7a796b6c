"""flock /tmp/rk-heavy.lock python benchmarks/decontamination.py [--pairs 80000] [--bench 3000] [--reps 3]

rewardkit's decontamination vs the RewardBench maintainers' method (scikit-learn CountVectorizer,
ngram_range (7, 13), fitted over benchmark + training prompts, flagged where X_train @ X_bench.T is
non-zero), on the same texts, each method in its own fresh process:

- training: ~80K pairs from full-scale fixtures (rewardkit.data.fixtures.write_fixtures(scale="full"), written
  once to --fixtures), the first pairs of each of the seven sources in proportion to its size; their
  first user turns are the texts. 1% of them get a benchmark prompt planted (half verbatim, half upper-
  cased inside a longer text) so the flagged set is not empty.
- benchmark: the 500 shared RewardBench rows + the 450 XSTest prompts + real HH-RLHF test prompts (first
  user turns, distinct) up to --bench prompts.

The table: median wall time of --reps runs of each method (rewardkit: build the index + stream the
pairs through Decontaminate.check; sklearn: fit_transform + sparse product; data loading and imports are
outside the timing), the speed-up, and memory: peak RSS of each method's process (VmHWM) and its
growth over the RSS measured just before the first run. Both flagged sets must be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from itertools import islice
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SOURCES = ("helpsteer2", "offsetbias", "wildguardmix", "magpie_ultra", "magpie_pro_llama31", "magpie_pro", "magpie_air")


def prepare(args, work: Path) -> dict:
    """Write the benchmark and training texts to work/data.json; returns a description of them."""
    from rewardkit.decontamination import tokenize
    from rewardkit.decontamination.run import load_references
    from rewardkit.data.fixtures import ROWS, write_fixtures
    from rewardkit.data.sources import iter_pairs

    fixtures = Path(args.fixtures)
    if not (fixtures / "magpie_air").exists():
        print(f"writing full-scale fixtures to {fixtures} (once) ...", flush=True)
        write_fixtures(fixtures, scale="full", seed=0)
    total_rows = sum(ROWS["full"].values())
    train, per_source = [], {}
    for name in SOURCES:
        want = round(args.pairs * ROWS["full"][name] / total_rows)
        texts = [p.first_user_turn for p in islice(iter_pairs(f"{name}:{fixtures / name}"), want)]
        per_source[name] = len(texts)
        train += texts

    groups, _ = load_references([f"rewardbench:{SHARED}/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl",
                                 f"xstest:{SHARED}/xstest"])
    bench = [r.text for refs in groups.values() for r in refs]
    n_real_bench = len(bench)
    seen = set(bench)
    for pair in iter_pairs(f"hh_rlhf:{SHARED}/hh-rlhf-test?split=test", on_bad_row="skip"):
        if len(bench) >= args.bench:
            break
        if pair.first_user_turn not in seen:
            seen.add(pair.first_user_turn)
            bench.append(pair.first_user_turn)

    rng = random.Random(0)
    matchable = [b for b in bench[:n_real_bench] if len(tokenize(b)) >= 7]
    planted = rng.sample(range(len(train)), len(train) // 100)
    for k, i in enumerate(planted):
        b = rng.choice(matchable)
        train[i] = b if k % 2 else f"Quick question from a user. {b.upper()} Please answer carefully."
    (work / "data.json").write_text(json.dumps({"bench": bench, "train": train}))
    tokens = sum(len(tokenize(t)) for t in train)
    return {"per_source": per_source, "train": len(train), "train_tokens": tokens, "planted": len(planted),
            "bench": len(bench), "bench_rewardbench_xstest": n_real_bench, "bench_hh": len(bench) - n_real_bench}


def status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not ru_maxrss: on Linux a child started with
    fork+exec reports its parent's high-water mark there."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def child(method: str, data_path: Path, reps: int, out: Path) -> None:
    """Run one method `reps` times in this process; write times, memory and the flagged set."""
    data = json.loads(data_path.read_text())
    bench, train = data["bench"], data["train"]
    if method == "rewardkit":
        from rewardkit.decontamination import Decontaminate, build_index
        from rewardkit.data.pairs import PreferencePair, RefPrompt

        refs = [RefPrompt(str(i), "bench", t) for i, t in enumerate(bench)]
        pairs = [PreferencePair([{"role": "user", "content": t}], "c", "r", "fixture") for t in train]

        def run() -> list[int]:
            decon = Decontaminate(build_index(refs, 7))
            return [i for i, (_, m) in enumerate(decon.scan(pairs)) if m is not None]
    else:
        import numpy as np
        from sklearn.feature_extraction.text import CountVectorizer

        def run() -> list[int]:
            x = CountVectorizer(ngram_range=(7, 13)).fit_transform(bench + train)
            # The gist densifies (rb @ pref.T).toarray(): 3,000 x 80,000 int64 = 1.9 GB more; the sparse
            # product answers the same question.
            shared = (x[len(bench):] @ x[: len(bench)].T).tocsr()
            shared.eliminate_zeros()
            return np.flatnonzero(shared.getnnz(axis=1)).tolist()

    before = status_mb("VmRSS")
    times, flagged = [], None
    for _ in range(reps):
        t = time.perf_counter()
        flagged = run()
        times.append(time.perf_counter() - t)
    peak = status_mb("VmHWM")
    out.write_text(json.dumps({"times": times, "rss_before_mb": before, "peak_rss_mb": peak, "flagged": flagged}))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=80_000)
    ap.add_argument("--bench", type=int, default=3_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fixtures", default=str(REPO / "runs" / "decontamination-bench" / "fixtures"))
    ap.add_argument("--child", choices=["rewardkit", "sklearn"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.data, args.reps, args.out)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        info = prepare(args, work)
        results = {}
        for method in ("rewardkit", "sklearn"):
            out = work / f"{method}.json"
            subprocess.run([sys.executable, __file__, "--child", method, "--data", str(work / "data.json"),
                            "--reps", str(args.reps), "--out", str(out)], check=True)
            results[method] = json.loads(out.read_text())

    rk, sk = results["rewardkit"], results["sklearn"]
    same = rk["flagged"] == sk["flagged"]
    med = {m: statistics.median(r["times"]) for m, r in results.items()}
    print(f"\n{date.today()} | {machine()}")
    print(f"training: {info['train']:,} pairs ({info['train_tokens']:,} prompt tokens) from full-scale fixtures "
          f"{info['per_source']}, {info['planted']} with a planted benchmark prompt")
    print(f"benchmark: {info['bench']:,} prompts = {info['bench_rewardbench_xstest']} shared RewardBench rows + "
          f"XSTest prompts, {info['bench_hh']:,} HH-RLHF test prompts")
    print(f"flagged: rewardkit {len(rk['flagged']):,}, sklearn {len(sk['flagged']):,}, identical sets: {same}\n")
    print("| method | median s (of %d) | all runs s | peak RSS MB | RSS growth MB | speed-up |" % args.reps)
    print("|---|---:|---|---:|---:|---:|")
    for name, key in (("rewardkit (hash index + Decontaminate.check)", "rewardkit"),
                      ("scikit-learn CountVectorizer(7,13) + sparse product", "sklearn")):
        r = results[key]
        print(f"| {name} | {med[key]:.2f} | {', '.join(f'{t:.2f}' for t in r['times'])} | {r['peak_rss_mb']:,.0f} | "
              f"{r['peak_rss_mb'] - r['rss_before_mb']:,.0f} | {med['sklearn'] / med[key]:.1f}x |")
    if not same:
        sys.exit("flagged sets differ")


if __name__ == "__main__":
    main()
