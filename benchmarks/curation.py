"""flock /tmp/rk-heavy.lock python benchmarks/curation.py [--runs 3] [--fixtures runs/curation-bench/fixtures]

The Skywork-80K recipe on full-size fixtures (~378K pairs in the public schemas, written once by
rewardkit.data.fixtures.write_fixtures(scale="full")): every step of recipes/skywork-80k.yaml except the
WildGuardMix RM-agreement filter, whose cost is reward-model scoring (see BENCHMARKS.md "Scoring"), not
curation. Decontamination runs against the shared RewardBench rows and XSTest prompts (local files).
Each run is a fresh process (its peak RSS is its own); the table shows the median of the runs per step
and checks that each Magpie category group kept exactly floor(fraction x pool) pairs.
Budget: <= 60 s and <= 4 GB peak memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def recipe(fixtures: Path, out: Path) -> dict:
    f = fixtures.resolve()
    return {
        "out_dir": str(out), "seed": 0,
        "sources": [
            {"name": "HelpSteer2", "spec": f"helpsteer2:{f}/helpsteer2"},
            {"name": "OffsetBias", "spec": f"offsetbias:{f}/offsetbias"},
            {"name": "WildGuardMix", "spec": f"wildguardmix:{f}/wildguardmix", "steps": [{"adversarial_only": True}]},
        ],
        "magpie": {"specs": [f"{r}:{f}/{r}" for r in ("magpie_ultra", "magpie_pro_llama31", "magpie_pro", "magpie_air")]},
        "mix_steps": [{"decontaminate": {"benchmark": [
            f"rewardbench:{SHARED}/rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl",
            f"xstest:{SHARED}/xstest"]}}],
    }


def once(fixtures: Path, out: Path) -> None:
    """One run in this process; prints a JSON line with timings, counts and peak RSS."""
    from rich.console import Console

    from rewardkit.curation.config import CurateConfig
    from rewardkit.curation.run import curate

    t = time.perf_counter()
    cfg = CurateConfig.model_validate(recipe(fixtures, out))
    res = curate(cfg, console=Console(quiet=True))
    wall = time.perf_counter() - t
    counts = json.loads(Path(res["counts"]).read_text())
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"wall": wall, "timings": res["timings"], "peak_gb": peak_gb, "counts": counts}))


def check_groups(counts: dict) -> list[str]:
    from rewardkit.curation.magpie import kept_count

    lines = []
    for g, s in counts["magpie"]["groups"].items():
        want = kept_count(s["fraction"], s["pool"])
        ok = s["kept"] == want
        lines.append(f"  {g:<20} pool {s['pool']:>7,}  x {s['fraction']:<4} -> floor {want:>6,}  kept {s['kept']:>6,}  "
                     f"{'OK' if ok else 'MISMATCH'}")
        if not ok:
            raise SystemExit(f"group {g}: kept {s['kept']} != floor({s['fraction']} x {s['pool']}) = {want}")
    magpie_step = next(s for s in counts["steps"] if s["label"] == "Magpie")
    assert magpie_step["kept"] == sum(s["kept"] for s in counts["magpie"]["groups"].values())
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fixtures", type=Path, default=REPO / "runs" / "curation-bench" / "fixtures")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "curation-bench" / "out")
    ap.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.once:
        return once(args.fixtures, args.out)

    if not (args.fixtures / "magpie_air").exists():
        from rewardkit.data.fixtures import write_fixtures

        t = time.perf_counter()
        write_fixtures(args.fixtures, scale="full", seed=0)
        print(f"wrote full-size fixtures to {args.fixtures} in {time.perf_counter() - t:.1f} s")

    runs = []
    for i in range(args.runs):
        proc = subprocess.run([sys.executable, __file__, "--once", "--fixtures", str(args.fixtures), "--out", str(args.out)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"run {i + 1}: {runs[-1]['wall']:.1f} s, peak {runs[-1]['peak_gb']:.2f} GB")

    counts = runs[-1]["counts"]
    pool = sum(r["pairs"] for reports in counts["reads"].values() for r in reports)
    steps = list(runs[0]["timings"])
    med = {s: statistics.median(r["timings"][s] for r in runs) for s in steps}
    total = med["total"]
    print(f"\nSkywork-80K recipe without the RM filter, full-size fixtures: {pool:,} pairs read -> "
          f"{counts['total']:,} kept; median of {len(runs)} runs")
    print(f"{'step':<34} {'median s':>9} {'share':>7}")
    for s in steps:
        print(f"{s:<34} {med[s]:>9.2f} {med[s] / total:>7.1%}")
    peak = statistics.median(r["peak_gb"] for r in runs)
    wall = statistics.median(r["wall"] for r in runs)
    print(f"{'wall (process, incl. imports)':<34} {wall:>9.2f}")
    print(f"{'peak RSS GB (median)':<34} {peak:>9.2f}")
    print(f"budget: <= 60 s -> {total / 60:.2f} of budget; <= 4 GB -> {peak / 4:.2f} of budget")
    print("\nMagpie groups (kept = floor(fraction x pool), exact):")
    print("\n".join(check_groups(counts)))
    print("\nper source in the mix:", dict(Counter(counts["per_source"]).most_common()))
    for s in counts["steps"]:
        print(f"  {s['label']:<13} {s['step']:<26} seen {s['seen']:>8,} kept {s['kept']:>7,} dropped {s['dropped']}")
    print(f"\n{time.strftime('%Y-%m-%d')} | {platform.machine()} | {platform.python_version()} | "
          f"cores {len(__import__('os').sched_getaffinity(0))}")


if __name__ == "__main__":
    main()
