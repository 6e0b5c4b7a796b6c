"""flock /tmp/rk-heavy.lock python benchmarks/recipe_speed.py features|training|stages RUN_DIR [--pairs N]

Where the CPU recipe's (recipes/cpu-smollm2.yaml) time goes, and the inference paths it uses side by side:

  features   on the same sequences of the recipe's training data (SmolLM2, max_length 512): `rewardkit
             score` (RewardModel.score_ids: bf16 weights, inference_mode, length-sorted token-budget
             batches) against the LP feature pass as it runs now (the same, reading pooled features), as it
             ran before (bf16 autocast around fp32 weights), and the frozen-prefix path of train_top_k_layers
             8 (blocks 0-21 once over packed pairs, then blocks 22-29 from the cache). With --no-native-bf16 the same in a
             child process capped at ONEDNN_MAX_CPU_ISA=AVX2 (a CPU without native bf16), bf16 vs fp32.
  training   training steps of the recipe (top 8 blocks, 16 pairs a step, prompt sharing) per --runs
             DTYPE:CACHE (auto: the default's choice on this CPU; the frozen-prefix cache on or off): median
             tokens/s of steps 2.. (step 1 builds kernels).
  stages     a finished recipe run's stage table from RUN_DIR/train/summary.json, train_log.jsonl,
             RUN_DIR/evaluate/results.json and RUN_DIR/stages.json: seconds and tokens/s per stage (prefix and
             feature stages count packed tokens, prompt once per pair; training counts both sequences).
Every table names the machine (CPU model, AMX or not, cores) and the torch version.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_SPECS = ["helpsteer2:../shared/data/hf-samples-500/nvidia_HelpSteer_sample.jsonl",
               "hh_rlhf:../shared/data/hh-rlhf-test/helpful-base"]
"""The CPU recipe's training data (before decontamination: the same kind of sequences)."""
TOP_K = 8
MAX_LENGTH = 512


def machine() -> str:
    from rewardkit.models.hardware import cpu_bf16_flags, isa_cap

    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    flags = cpu_bf16_flags()
    amx = "AMX" if "amx_bf16" in flags else "no AMX"
    cap = isa_cap()
    return (f"{model}, {amx}, bf16 flags: {', '.join(flags) or 'none'}, {os.cpu_count()} cores, torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads" + (f", ONEDNN_MAX_CPU_ISA={cap}" if cap else ""))


def encoded_pairs(n: int):
    from rewardkit.data.sources import read_pairs
    from rewardkit.data.split import sample_pairs
    from rewardkit.models.loading import load_reward_model
    from rewardkit.training.data import encode_pairs

    _, tok = load_reward_model("smollm2", dtype="float32", seed=0)
    pairs = [p for spec in TRAIN_SPECS for p in read_pairs(spec, on_bad_row="skip")[0]]
    return encode_pairs(sample_pairs(pairs, n, 0), tok, max_length=MAX_LENGTH, on_long="truncate"), tok


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def features(n_pairs: int, dtypes: tuple[str, ...]) -> list[dict]:
    """The inference paths over the same rows; one dict per path."""
    import copy

    import torch

    from rewardkit.models.loading import load_reward_model
    from rewardkit.models.scoring import RewardModel
    from rewardkit.probing.features import pair_rows, pooled_features
    from rewardkit.training.head import freeze_below_top_layers
    from rewardkit.training.prefix import PrefixStore, cached_features, fill_prefix

    enc, tok = encoded_pairs(n_pairs)
    rows = pair_rows(enc.items)
    tokens = sum(len(r) for r in rows)
    fp32, _ = load_reward_model("smollm2", dtype="float32", seed=0)
    pad = tok.pad_token_id
    out = []

    def add(name, seconds):
        out.append({"path": name, "seconds": round(seconds, 1), "tokens": tokens, "tokens_per_s": round(tokens / seconds)})
        print(out[-1], flush=True)  # as it comes: a long run cut short still says what it measured

    for dtype in dtypes:
        model = fp32 if dtype == "float32" else copy.deepcopy(fp32).to(torch.bfloat16)
        rm = RewardModel(model, tok)
        rm.score_ids(rows[:16], progress=False)  # warm-up: first kernels
        scores, s = timed(lambda: rm.score_ids(rows, progress=False))
        add(f"rewardkit score ({dtype} weights)", s)
        feats, s = timed(lambda: pooled_features(model, rows, pad)["last"])
        add(f"LP features, one inference path ({dtype} weights)", s)
        head = model.score.weight.float()[0].detach().numpy()
        out[-1]["max |features·head − score|"] = float(abs(feats @ head - scores).max())
        if dtype == "bfloat16":
            def autocast():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return pooled_features(fp32, rows, pad)["last"]

            _, s = timed(autocast)
            add("LP features before (bf16 autocast on fp32 weights)", s)
        frozen = copy.deepcopy(model)
        freeze_below_top_layers(frozen, TOP_K)
        start = frozen.config.num_hidden_layers - TOP_K
        enc.prefix = PrefixStore.allocate(enc.items, frozen.config.hidden_size, model.dtype, None)
        _, s1 = timed(lambda: fill_prefix(frozen, enc.prefix, enc.items, start, pad, shared=True))
        _, s2 = timed(lambda: cached_features(frozen, enc, start, True, pad))
        add(f"frozen prefix: blocks 0-{start - 1} once ({dtype})", s1)
        add(f"then LP features from it, blocks {start}-{start + TOP_K - 1} ({dtype})", s2)
        add(f"prefix + features together ({dtype})", s1 + s2)
    score = {r["path"].split("(")[1].split(" ")[0]: r["tokens_per_s"] for r in out if r["path"].startswith("rewardkit score")}
    for r in out:
        dt = next((d for d in score if d in r["path"]), "bfloat16")
        r["vs score"] = round(r["tokens_per_s"] / score[dt], 2)
    return out


def training(n_pairs: int, steps: int, runs: tuple[str, ...]) -> list[dict]:
    """Training steps per run "DTYPE:CACHE" (dtype auto (the default, `bf16: null`), bfloat16 or float32;
    the prefix cache on or off): median tokens/s of steps 2.. and the speed-up against the first run."""
    from rewardkit.training import TrainConfig, train_from_config
    from rewardkit.data.sources import read_pairs

    pairs = [p for spec in TRAIN_SPECS for p in read_pairs(spec, on_bad_row="skip")[0]]
    bf16 = {"auto": None, "bfloat16": True, "float32": False}
    out = []
    for run in runs:
        dtype, cache = run.split(":")
        cfg = TrainConfig(model="smollm2", max_pairs=n_pairs, val_fraction=0.0, max_length=MAX_LENGTH, epochs=1,
                          max_steps=steps, global_batch_size=16, micro_batch_size=4, lr=3e-5,
                          train_top_k_layers=TOP_K, eval_every=1000, save_every=1000, seed=42,
                          prefix_cache=cache == "on", bf16=bf16[dtype])
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            train_from_config(cfg, Path(d), train_pairs=pairs)
            wall = time.perf_counter() - t0
            log = [json.loads(x) for x in (Path(d) / "train_log.jsonl").read_text().splitlines()]
        rates = [r["tokens_per_s"] for r in log if r["event"] == "step"][1:]
        start = [e for e in log if e["event"] == "start"][0]
        out.append({"dtype": f"{dtype} ({start['dtype']['dtype']})" if dtype == "auto" else dtype,
                    "prefix cache": cache, "steps": steps, "median tokens/s": round(statistics.median(rates)),
                    "cache fill s": sum(s["seconds"] for s in start["prefix_cache"]["stores"]), "wall s": round(wall)})
        out[-1]["speed-up"] = round(out[-1]["median tokens/s"] / out[0]["median tokens/s"], 2)
        print(out[-1], flush=True)
    return out


def stages(run: Path) -> list[dict]:
    summary = json.loads((run / "train" / "summary.json").read_text())
    log = [json.loads(x) for x in (run / "train" / "train_log.jsonl").read_text().splitlines()]
    start = [e for e in log if e["event"] == "start"][0]
    secs = summary["stage_seconds"]
    stores = {s["set"]: s for s in start["prefix_cache"]["stores"]}
    train_tokens = summary["tokens_seen"]
    rows = []
    for name, s in secs.items():
        tokens = None
        if name == "prefix_train" or name == "features":
            tokens = stores.get("train", {}).get("tokens")
        elif name == "prefix_val" or name == "val_features" or name.startswith("validation_"):
            tokens = stores.get("val", {}).get("tokens")
        elif name == "training":
            tokens = train_tokens
        rows.append({"stage": name, "seconds": s, "tokens": tokens,
                     "tokens/s": round(tokens / s) if tokens and s else None})
    ev = run / "evaluate" / "results.json"
    if ev.exists():
        res = json.loads(ev.read_text())
        rows.append({"stage": "evaluate: scoring (RewardBench 500 rows)", "seconds": res.get("seconds"), "tokens": None,
                     "tokens/s": None})
    wall = run / "stages.json"  # the pipeline's wall time per stage
    if wall.exists():
        rows += [{"stage": f"pipeline: {name}", "seconds": s, "tokens": None, "tokens/s": None}
                 for name, s in json.loads(wall.read_text()).items()]
    return rows


def markdown(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r.get(k) is None else str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["features", "training", "stages"])
    ap.add_argument("run", nargs="?", type=Path)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--no-native-bf16", action="store_true", help="features in a child capped at AVX2, bf16 vs fp32")
    ap.add_argument("--dtypes", default="bfloat16", help="features: comma-separated bfloat16, float32")
    ap.add_argument("--runs", default="auto:off,auto:on", help="training: comma-separated DTYPE:CACHE, e.g. "
                    "bfloat16:off,auto:on (DTYPE auto, bfloat16 or float32; CACHE on or off)")
    args = ap.parse_args()
    if args.no_native_bf16 and "ONEDNN_MAX_CPU_ISA" not in os.environ:
        env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
        cmd = [sys.executable, __file__, "features", "--pairs", str(args.pairs), "--dtypes", "bfloat16,float32"]
        sys.exit(subprocess.call(cmd, env=env, cwd=REPO))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}")
    if args.what == "features":
        print(markdown(features(args.pairs, tuple(args.dtypes.split(",")))))
    elif args.what == "training":
        print(markdown(training(args.pairs, args.steps, tuple(args.runs.split(",")))))
    else:
        print(markdown(stages(args.run)))


if __name__ == "__main__":
    main()
