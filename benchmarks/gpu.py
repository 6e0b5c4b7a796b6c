"""rewardkit on one CUDA card: one command, one table (docs/gpu.md).

    python benchmarks/gpu.py --prepare .gpu                      # here, with ../shared: real pairs + tokenizer
    python benchmarks/gpu.py --data .gpu --out $OUT/gpu.json     # on the GPU machine (~8 min on one H100)
    python benchmarks/gpu.py --tiny --data .gpu --out gpu.json   # anywhere: the same code at tiny shapes

Every row is measured in the same run, side by side with its baseline:
- the card's bf16 matmul peak (8192^3 products), the denominator of every share of peak;
- training a ~1B Llama-shaped model (Llama-3.2-1B's shape, random init) on real HH-RLHF pairs:
  rewardkit's default training loop vs TRL's RewardTrainer (its defaults: gradient checkpointing; and
  without it), the same pairs, global batch, micro-batch and max_length; tokens/s and model FLOP/s
  (6 x non-embedding params x real tokens / s) as a share of the measured peak;
- scoring the same pairs: rewardkit's RewardModel vs a plain transformers loop (batches of 8 in file
  order, the model's own classifier head), tokens/s;
- peak GPU memory of one training step at the 8B recipe's shape (recipes/skywork-llama3.1-8b.yaml over
  the Llama-3.1-8B config, random init, conversations filled to max_length): as the recipe says, and
  with LoRA or the top 8 layers trained, each in its own process;
- exactness: a small model's rewards on CUDA in fp32 against the CPU's fp32 rewards (tight), and in
  bf16 within the bf16 bound rewardkit documents (rewardkit.models.scoring.BF16_BOUND).

Training rows and memory rows run in their own processes (clean memory, their own accelerate state);
the table is rewritten to --out after each row, so a run cut short still returns what it measured.
With --tiny the shapes are tiny and the steps few; rows that need CUDA say "skipped: no CUDA".
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HH = REPO.parent / "shared" / "data" / "hh-rlhf-test"
RECIPE_8B = REPO / "recipes" / "skywork-llama3.1-8b.yaml"
CONFIG_8B = REPO / "configs" / "models" / "meta-llama" / "Llama-3.1-8B-Instruct" / "config.json"
PAIRS_FILE, TOKENIZER_DIR, MANIFEST = "pairs.jsonl", "tokenizer", "manifest.json"

LLAMA_1B = dict(model_type="llama", vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0,
                rms_norm_eps=1e-5, tie_word_embeddings=True)
"""Llama-3.2-1B's shape (1.24B parameters, 0.97B of them outside the embeddings)."""
LLAMA_SMALL = dict(LLAMA_1B, hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=2)
"""The exactness row's model: small enough for the CPU reference to take seconds."""
LLAMA_TINY = dict(LLAMA_1B, vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2)
"""--tiny's model for every row."""

FP32_TOLERANCE = 1e-4
"""CUDA fp32 vs CPU fp32 rewards: the largest difference as a share of the CPU rewards' RMS. fp32 kernels
differ in summation order only (~1e-6 here); TF32 matmuls (~1e-3) would fail it, as they should."""
GOALS = {"train_vs_trl": 2.0, "share_of_peak": 0.40, "score_vs_plain": 1.5}
"""What the GPU run is meant to show: training >= 2x TRL's tokens/s on the same work, >= 40% of the
measured bf16 peak; scoring >= 1.5x the plain forward loop."""
MEMORY_VARIANTS = {
    "recipe as written (full fine-tune, bf16 weights + fp32 masters, AdamW)": {},
    "recipe + LoRA r=16 (all linear layers)": {"lora": {"r": 16}},
    "recipe + train_top_k_layers={train_top_k_layers}": {"train_top_k_layers": 8},
}


@dataclass(frozen=True)
class Shape:
    """The sizes of one run of this check."""

    arch: dict
    small_arch: dict
    max_length: int
    batch: int
    micro: int
    steps: int
    score_pairs: int
    score_plain_batch: int
    memory_arch: dict | None
    memory_max_length: int | None
    trl_checkpointing: tuple[bool, ...]
    """TRL rows: with gradient checkpointing (its default) and/or without."""
    warmup: bool
    """Each trainer first runs one step on other pairs (CUDA kernels, cuBLAS handles, allocator pools)."""
    worker_timeout_s: int


FULL = Shape(LLAMA_1B, LLAMA_SMALL, max_length=1024, batch=64, micro=16, steps=8, score_pairs=512,
             score_plain_batch=8, memory_arch=None, memory_max_length=None, trl_checkpointing=(True, False),
             warmup=True, worker_timeout_s=240)
TINY = Shape(LLAMA_TINY, LLAMA_TINY, max_length=256, batch=4, micro=2, steps=2, score_pairs=8,
             score_plain_batch=8, memory_arch=LLAMA_TINY, memory_max_length=128, trl_checkpointing=(True,),
             warmup=False, worker_timeout_s=120)


# ---------------------------------------------------------------- preparation (here, with ../shared)
def prepare(dest: Path, tokenizer: str, n_pairs: int, max_length: int = FULL.max_length, seed: int = 0) -> dict:
    """Write DEST/pairs.jsonl (n seeded real HH-RLHF test pairs, all four splits, whose conversations fit
    max_length in the tokenizer), DEST/tokenizer/ (the tokenizer as it ships: `build_model` gives it
    rewardkit's pad token) and DEST/manifest.json saying what they are."""
    from transformers import AutoTokenizer

    from rewardkit.data.sources import read_pairs
    from rewardkit.models.loading import resolve
    from rewardkit.models.tokenization import encode_pair

    tok = AutoTokenizer.from_pretrained(resolve(tokenizer))
    pool = []
    for split in sorted(p.name for p in HH.iterdir() if p.is_dir()):
        pool += read_pairs(f"hh_rlhf:{HH / split}", on_bad_row="skip")[0]
    random.Random(seed).shuffle(pool)
    kept = [p for p in pool if encode_pair(tok, p, max_length=max_length, on_long="drop") is not None][:n_pairs]
    if len(kept) < n_pairs:
        raise ValueError(f"only {len(kept)} HH-RLHF test pairs fit {max_length} tokens; asked for {n_pairs}")
    dest.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(dest / TOKENIZER_DIR)
    (dest / PAIRS_FILE).write_text("".join(json.dumps(p.to_dict()) + "\n" for p in kept))
    manifest = {"pairs": len(kept), "source": "Anthropic HH-RLHF test splits (MIT), ../shared/data/hh-rlhf-test",
                "seed": seed, "fit_max_length": max_length, "tokenizer": tokenizer}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_prepared(data: Path):
    from rewardkit.data.pairs import PreferencePair

    if not (data / PAIRS_FILE).is_file() or not (data / TOKENIZER_DIR).is_dir():
        raise SystemExit(f"{data}: no {PAIRS_FILE} and {TOKENIZER_DIR}/ "
                         f"(run `python benchmarks/gpu.py --prepare {data}` "
                         "where ../shared is)")
    return [PreferencePair.from_dict(json.loads(x)) for x in (data / PAIRS_FILE).read_text().splitlines()]


# ---------------------------------------------------------------- models (random init, built on the device)
def build_model(arch: dict, tokenizer_dir: str | Path, *, seed: int = 0, dtype="float32", device="cpu",
                attn_implementation: str | None = None):
    """(model, tokenizer) as `rewardkit.models.loading.load_reward_model` returns them, but a fresh random
    model of `arch` built directly on `device` (no weights to load: throughput and memory need none)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from rewardkit.models.loading import check_dtype, ensure_pad_token

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = AutoConfig.for_model(**{**arch, "num_labels": 1})
    set_seed(seed)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(
            config, dtype=check_dtype(dtype), attn_implementation=attn_implementation or "sdpa")
    ensure_pad_token(model, tok)
    return model.eval(), tok


def use_random_models(arch: dict, tokenizer_dir: str | Path) -> None:
    """Make rewardkit's training setup build `arch` at random instead of loading `cfg.model`: the rest of
    the run (data, prompt sharing, precision, optimizer, loop) is rewardkit's own."""
    import rewardkit.models.loading as loading

    def load(name_or_path, *, dtype="bfloat16", attn_implementation=None, seed=None, device=None):
        return build_model(arch, tokenizer_dir, seed=seed or 0, dtype=dtype, device=device or "cpu",
                           attn_implementation=attn_implementation)

    loading.load_reward_model = load


def non_embedding_params(arch: dict) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(**{**arch, "num_labels": 1}))
    return sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)


def sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_gb(device) -> float:
    import resource

    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


# ---------------------------------------------------------------- workers (one process each)
def real_tokens(tok, pairs, max_length: int) -> int:
    """Chosen + rejected tokens of the pairs as rewardkit encodes them (unpadded, prompt counted twice):
    the work count of every training row."""
    from rewardkit.models.tokenization import encode_pair

    encs = [encode_pair(tok, p, max_length=max_length) for p in pairs]
    return sum(len(e.chosen_ids) + len(e.rejected_ids) for e in encs)


def rewardkit_config(job: dict, steps: int, **over):
    from rewardkit.training import TrainConfig

    return TrainConfig(model="random", global_batch_size=job["batch"], micro_batch_size=job["micro"], lr=1e-5,
                       warmup_ratio=0.0, epochs=1, max_steps=steps, max_length=job["max_length"], val_fraction=0.0,
                       save_every=10**6, eval_every=10**6, seed=0, **over)


def runs(job: dict, warm, timed) -> list[tuple]:
    """(name, pairs, steps) of a trainer's runs: the warm-up step if the shape has one, then the timed run."""
    return [("warm", warm, 1)] * job["warmup"] + [("timed", timed, job["steps"])]


def train_rewardkit(job: dict, warm, timed, out: Path) -> dict:
    """rewardkit's default training (`train_from_config`) on `timed`, after a one-step warm-up run; the
    seconds are its logged steps' (the export after the last step is not timed)."""
    from rewardkit.training import train_from_config

    use_random_models(job["arch"], job["tokenizer"])
    for name, pairs, steps in runs(job, warm, timed):
        reset_peak(job["device"])
        train_from_config(rewardkit_config(job, steps), out / name, train_pairs=pairs, val_pairs=[])
        sync(job["device"])
        gc.collect()
    steps = [json.loads(x) for x in (out / "timed" / "train_log.jsonl").read_text().splitlines()]
    steps = [s for s in steps if s["event"] == "step"]
    return {"seconds": sum(s["seconds"] for s in steps), "steps": len(steps)}


def train_trl(job: dict, warm, timed, out: Path) -> dict:
    """TRL's RewardTrainer on the same pairs, batch, micro-batch and max_length, after a one-step warm-up."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import RewardConfig, RewardTrainer

    device = job["device"]

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            sync(device)
            self.t0 = time.perf_counter()

        def on_train_end(self, *a, **k):
            sync(device)
            self.seconds = time.perf_counter() - self.t0

    seconds = None
    for name, pairs, steps in runs(job, warm, timed):
        model, tok = build_model(job["arch"], job["tokenizer"], seed=0, dtype="float32", device=device)
        args = RewardConfig(output_dir=str(out / name), per_device_train_batch_size=job["micro"],
                            gradient_accumulation_steps=job["batch"] // job["micro"], max_steps=steps,
                            learning_rate=1e-5, lr_scheduler_type="cosine", warmup_steps=0, weight_decay=1e-3,
                            max_length=job["max_length"], logging_steps=1, save_strategy="no", report_to=[], seed=0,
                            use_cpu=not torch.cuda.is_available(), bf16=True, dataloader_num_workers=0,
                            gradient_checkpointing=job["gradient_checkpointing"])
        clock = Clock()
        trainer = RewardTrainer(model=model, args=args, processing_class=tok, callbacks=[clock],
                                train_dataset=Dataset.from_list([p.to_trl() for p in pairs]))
        reset_peak(device)
        trainer.train()
        seconds = clock.seconds
        del trainer, model
        gc.collect()
    return {"seconds": seconds, "steps": job["steps"]}


def reset_peak(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def long_pairs(pairs, tok, n: int, max_length: int):
    """n real pairs whose prompts are lengthened with other pairs' real text, so each conversation is cut
    to exactly max_length (the recipe truncates the prompt from the left): the recipe's worst-case shape."""
    filler = "\n\n".join(p.chosen for p in pairs)
    while len(tok(filler)["input_ids"]) < max_length:
        filler += "\n\n" + filler
    return [replace(p, prompt=[{"role": "user", "content": filler + "\n\n" + p.prompt[-1]["content"]}])
            for p in pairs[:n]]


def memory_step(job: dict, pairs, out: Path) -> dict:
    """Peak memory of rewardkit's setup and one optimizer step at the recipe's shape, with `job["over"]`."""
    import torch
    from transformers import AutoTokenizer

    from rewardkit.models.tokenization import encode_pair
    from rewardkit.recipe import load_recipe
    from rewardkit.training import TrainConfig, TrainRecipe
    from rewardkit.training.loop import train_step
    from rewardkit.training.setup import setup

    recipe = load_recipe(RECIPE_8B, TrainRecipe).model_dump()
    for key in ("out_dir", "resume"):
        recipe.pop(key)
    if job["max_length"] is not None:
        recipe["max_length"] = job["max_length"]
    micro = recipe["micro_batch_size"]
    cfg = TrainConfig(**{**recipe, "model": "random", "data": [], "val_fraction": 0.0, "max_steps": 1,
                         "global_batch_size": micro, **job["over"]})
    tok = AutoTokenizer.from_pretrained(job["tokenizer"])
    batch = long_pairs(pairs, tok, micro, cfg.max_length)
    encs = [encode_pair(tok, p, max_length=cfg.max_length) for p in batch]
    lengths = [max(len(e.chosen_ids), len(e.rejected_ids)) for e in encs]
    use_random_models(job["arch"], job["tokenizer"])
    device = job["device"]
    reset_peak(device)
    result = {"micro_batch": micro, "max_length": cfg.max_length, "conversation_tokens": lengths,
              "gradient_checkpointing": cfg.gradient_checkpointing}
    if device.startswith("cuda"):
        result["card_gb"] = torch.cuda.mem_get_info()[1] / 2**30
    try:
        run = setup(cfg, out, resume=False, train_pairs=batch, val_pairs=[])
        result["after_setup_gb"] = peak_memory_gb(device)
        train_step(run, list(range(micro)))
        sync(device)
        result["fits"] = True
    except torch.OutOfMemoryError as e:
        result["fits"], result["oom"] = False, str(e).splitlines()[0][:200]
    result["peak_gb"] = peak_memory_gb(device)
    return result


def run_job(job: dict, pairs) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if job["kind"] == "memory":
            return memory_step(job, pairs, out)
        n = job["batch"] * job["steps"]
        warm, timed = pairs[-job["batch"]:], pairs[:n]
        fn = train_trl if job["kind"] == "trl" else train_rewardkit
        return {**fn(job, warm, timed, out), "peak_gb": peak_memory_gb(job["device"])}


def worker(jobs: list[dict]) -> None:
    """Run the jobs one after another in this process; one RESULT line each (an error is its job's result)."""
    pairs = read_prepared(Path(jobs[0]["data"]))
    for i, job in enumerate(jobs):
        try:
            result = run_job(job, pairs)
        except Exception as e:  # noqa: BLE001 - reported in the job's row; the other jobs still run
            result = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"}
        result["modules"] = third_party_modules()
        print(f"RESULT {i} " + json.dumps(result), flush=True)


def run_workers(jobs: list[dict], timeout_s: float) -> list[dict]:
    """The jobs in one process; per job its result, or {"error": ...} when the process failed or ran past
    timeout_s before reaching it."""
    t0 = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(jobs, f)
    try:
        proc = subprocess.run([sys.executable, __file__, "--worker", f.name], capture_output=True, text=True,
                              timeout=timeout_s, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        stdout, why = proc.stdout, (proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"])[0]
        if proc.returncode:
            sys.stderr.write(proc.stderr[-4000:])
    except subprocess.TimeoutExpired as e:
        partial = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stdout, why = partial, f"ran past {timeout_s:.0f} s"
    finally:
        os.unlink(f.name)
    print(f"    ({', '.join(j['kind'] for j in jobs)}: {time.perf_counter() - t0:.1f} s)", flush=True)
    results = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            i, payload = line[7:].split(" ", 1)
            results[int(i)] = json.loads(payload)
    return [results.get(i, {"error": why[:300]}) for i in range(len(jobs))]


# ---------------------------------------------------------------- in-process rows
def matmul_peak(device, n: int, reps: int = 10) -> float:
    """bf16 matmul FLOP/s on random data: the median of `reps` products after 3 warm-ups."""
    import statistics

    import torch

    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    del a, b
    reset_peak(device)  # give the cached blocks back before the workers' processes start
    return 2 * n**3 / statistics.median(times)


def plain_scores(model, tok, rows, batch_size: int) -> list[float]:
    """The plain transformers loop: file order, fixed batches padded by the tokenizer, the model's own
    classifier readout (last non-pad token)."""
    import torch

    device = next(model.parameters()).device
    tok.padding_side = "right"
    out = []
    with torch.inference_mode():
        for s in range(0, len(rows), batch_size):
            enc = tok.pad({"input_ids": rows[s:s + batch_size]}, return_tensors="pt")
            out += model(input_ids=enc["input_ids"].to(device),
                         attention_mask=enc["attention_mask"].to(device)).logits[:, 0].float().tolist()
    return out


def scoring_rows(shape: Shape, pairs, tokenizer_dir, device) -> dict:
    """rewardkit's RewardModel vs the plain loop, bf16, on the same sequences; each warmed up first."""
    from rewardkit.models.scoring import RewardModel
    from rewardkit.models.tokenization import encode_pair

    model, tok = build_model(shape.arch, tokenizer_dir, seed=0, dtype="bfloat16", device=device)
    encs = [encode_pair(tok, p, max_length=shape.max_length) for p in pairs[: shape.score_pairs]]
    rows = [ids for e in encs for ids in (e.chosen_ids, e.rejected_ids)]
    tokens = sum(len(r) for r in rows)
    rm = RewardModel(model, tok)
    timings = {}
    for name, fn in (("rewardkit", lambda r: rm.score_ids(r, progress=False)),
                     ("plain", lambda r: plain_scores(model, tok, r, shape.score_plain_batch))):
        fn(rows[:64])  # warm-up
        sync(device)
        t = time.perf_counter()
        scores = fn(rows)
        sync(device)
        timings[name] = (time.perf_counter() - t, scores)
    (t_rk, s_rk), (t_pl, s_pl) = timings["rewardkit"], timings["plain"]
    rms = (sum(x * x for x in s_rk) / len(s_rk)) ** 0.5
    del model, rm
    return {"sequences": len(rows), "tokens": tokens, "rewardkit_tok_s": tokens / t_rk, "plain_tok_s": tokens / t_pl,
            "max_diff_over_rms": max(abs(a - b) for a, b in zip(s_rk, s_pl)) / rms}


def exactness(shape: Shape, pairs, tokenizer_dir, device) -> dict:
    """A small random model's rewards: `device` fp32 and bf16 against the CPU's fp32, as the largest
    difference over the CPU rewards' RMS; and whether bf16 keeps every pair order the bound promises."""
    import torch

    from rewardkit.models.scoring import BF16_BOUND, RewardModel
    from rewardkit.models.tokenization import encode_pair

    cpu, tok = build_model(shape.small_arch, tokenizer_dir, seed=0, dtype="float32", device="cpu")
    encs = [encode_pair(tok, p, max_length=shape.max_length) for p in pairs[:64]]
    rows = [ids for e in encs for ids in (e.chosen_ids, e.rejected_ids)]
    ref = RewardModel(cpu, tok).score_ids(rows, progress=False)
    on_device = copy.deepcopy(cpu).to(device)
    fp32 = RewardModel(on_device, tok).score_ids(rows, progress=False)
    bf16 = RewardModel(on_device.to(dtype=torch.bfloat16), tok).score_ids(rows, progress=False)
    rms = (sum(x * x for x in ref) / len(ref)) ** 0.5
    dev32 = max(abs(a - b) for a, b in zip(fp32, ref)) / rms
    dev16 = max(abs(a - b) for a, b in zip(bf16, ref)) / rms
    wide = [i for i in range(0, len(ref), 2) if abs(ref[i] - ref[i + 1]) > 2 * BF16_BOUND * rms]
    same_order = all((bf16[i] > bf16[i + 1]) == (ref[i] > ref[i + 1]) for i in wide)
    return {"sequences": len(rows), "fp32_max_diff_over_rms": dev32, "bf16_max_diff_over_rms": dev16,
            "bf16_bound": BF16_BOUND, "fp32_tolerance": FP32_TOLERANCE, "wide_margin_pairs": len(wide),
            "bf16_same_order_on_wide_margins": same_order}


# ---------------------------------------------------------------- the table
def row(check: str, result: str, goal: str = "", met: bool | None = None, status: str = "ok", **numbers) -> dict:
    return {"check": check, "result": result, "goal": goal, "met": met, "status": status, "numbers": numbers}


def markdown(rows: list[dict]) -> str:
    lines = ["| check | result | goal | met |", "|---|---|---|---|"]
    for r in rows:
        result = r["result"] if r["status"] == "ok" else r["status"]
        met = "" if r["met"] is None or r["status"] != "ok" else ("yes" if r["met"] else "NO")
        lines.append(f"| {r['check']} | {result} | {r['goal']} | {met} |")
    return "\n".join(lines)


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "pyarrow", "pydantic"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def third_party_modules() -> list[str]:
    """Top-level modules this process imported from outside the standard library and rewardkit: what
    the GPU machine must have or be carried (docs/gpu.md)."""
    names = {m.split(".")[0] for m in sys.modules}
    return sorted(n for n in names if n not in sys.stdlib_module_names and not n.startswith("_") and n != "rewardkit")


class Table:
    """The rows so far, printed and written to --out after each one."""

    def __init__(self, out: Path | None, header: dict, budget_s: float):
        self.out, self.header, self.rows, self.modules = out, header, [], set()
        self.deadline = time.perf_counter() + budget_s

    def run_jobs(self, jobs: list[dict], timeout_s: float, isolate: bool = True) -> list[dict]:
        """Each job in its own process (`isolate`: its own memory peak and accelerate state), or all in one
        (faster where the peaks are not reported: --tiny on a CPU), within the run's time budget."""
        out = []
        for group in [[j] for j in jobs] if isolate else [jobs]:
            left = self.deadline - time.perf_counter()
            if left < 20:
                out += [{"error": "time budget spent", "skipped": True}] * len(group)
            else:
                out += run_workers(group, min(timeout_s * len(group), left))
        return out

    def add(self, r: dict, modules=()) -> None:
        self.rows.append(r)
        self.modules |= set(modules)
        print(f"  {r['check']}: {r['result'] if r['status'] == 'ok' else r['status']}", flush=True)
        self.write()

    def write(self) -> None:
        if self.out is None:
            return
        from rewardkit.data.io import write_json_atomic

        self.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.out, {**self.header, "rows": self.rows,
                                     "modules": sorted(self.modules | set(third_party_modules()))})


def training_rows(table: Table, shape: Shape, data: Path, device: str, tokens: int, peak: float,
                  flop_token: float) -> None:
    base = {"arch": shape.arch, "tokenizer": str(data / TOKENIZER_DIR), "data": str(data), "device": device,
            "warmup": shape.warmup, "batch": shape.batch, "micro": shape.micro, "steps": shape.steps,
            "max_length": shape.max_length}
    runs = {"rewardkit (default training)": {"kind": "rewardkit"}}
    for ckpt in shape.trl_checkpointing:
        name = ("TRL RewardTrainer (its defaults: gradient checkpointing)" if ckpt
                else "TRL RewardTrainer, gradient checkpointing off")
        runs[name] = {"kind": "trl", "gradient_checkpointing": ckpt}
    tok_s = {}
    for name, extra in runs.items():
        r = table.run_jobs([{**base, **extra}], shape.worker_timeout_s)[0]
        check = f"train: {name}"
        if "error" in r:
            table.add(row(check, "", status=failed(r)))
            continue
        tok_s[extra["kind"], extra.get("gradient_checkpointing")] = v = tokens / r["seconds"]
        share = v * flop_token / peak
        goal, met = "", None
        if extra["kind"] == "rewardkit":
            goal, met = f">= {GOALS['share_of_peak']:.0%} of peak", share >= GOALS["share_of_peak"]
        table.add(row(check, f"{v:,.0f} tok/s, {share:.1%} of bf16 peak, peak memory {r['peak_gb']:.1f} GB",
                      goal, met, tok_s=v, share_of_peak=share, **{k: r[k] for k in ("seconds", "steps", "peak_gb")}),
                  r.get("modules", ()))
    rk = tok_s.get(("rewardkit", None))
    for (kind, ckpt), v in tok_s.items():
        if kind == "trl" and rk is not None:
            ratio = rk / v
            label = "TRL defaults" if ckpt else "TRL without gradient checkpointing"
            goal = f">= {GOALS['train_vs_trl']:.1f}x" if ckpt else ""
            table.add(row(f"train: rewardkit / {label}", f"{ratio:.2f}x tokens/s", goal,
                          ratio >= GOALS["train_vs_trl"] if ckpt else None, ratio=ratio))


def failed(result: dict) -> str:
    return f"skipped: {result['error']}" if result.get("skipped") else f"failed: {result['error']}"


def memory_rows(table: Table, shape: Shape, data: Path, device: str) -> None:
    cuda = device.startswith("cuda")
    arch = shape.memory_arch or {k: v for k, v in json.loads(CONFIG_8B.read_text()).items()
                                 if not k.startswith("_") and k not in ("architectures", "torch_dtype", "dtype")}
    what = "Llama-3.1-8B" if shape.memory_arch is None else "tiny Llama"
    if not cuda and shape.memory_arch is None:
        for name, over in MEMORY_VARIANTS.items():
            table.add(row(f"memory, {what}: {name.format(**over)}", "", status="skipped: no CUDA"))
        return
    jobs = []
    for over in MEMORY_VARIANTS.values():
        if "train_top_k_layers" in over:  # a tiny model has fewer layers than the recipe's choice
            over = {**over, "train_top_k_layers": min(over["train_top_k_layers"], arch["num_hidden_layers"] - 1)}
        jobs.append({"kind": "memory", "arch": arch, "tokenizer": str(data / TOKENIZER_DIR), "data": str(data),
                     "device": device, "over": over, "max_length": shape.memory_max_length})
    for name, job, r in zip(MEMORY_VARIANTS, jobs, table.run_jobs(jobs, shape.worker_timeout_s, isolate=cuda)):
        check = f"memory, {what}: {name.format(**job['over'])}"
        if "error" in r:
            table.add(row(check, "", status=failed(r)))
            continue
        unit = "GB" if cuda else "GB (CPU RSS of the process running all three)"
        where = f"micro-batch {r['micro_batch']} x {r['max_length']} tokens"
        card = f" of {r['card_gb']:.0f}" if "card_gb" in r else ""
        result = (f"fits: peak {r['peak_gb']:.1f}{card} {unit}, {where}" if r["fits"]
                  else f"does not fit: out of memory at {r['peak_gb']:.1f}{card} {unit}, {where}")
        table.add(row(check, result, "fits one card" if cuda else "", r["fits"] if cuda else None,
                      **{k: v for k, v in r.items() if k != "modules"}), r.get("modules", ()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / ".gpu", help="the folder --prepare wrote")
    ap.add_argument("--out", type=Path, help="write the table as JSON here")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes and few steps (any machine; what the tests run)")
    ap.add_argument("--prepare", type=Path, metavar="DIR", help="write real pairs and the tokenizer to DIR, then stop")
    ap.add_argument("--tokenizer", default="smollm2",
                    help="with --prepare: the tokenizer to carry (an alias or a directory)")
    ap.add_argument("--pairs", type=int, default=1024, help="with --prepare: how many pairs")
    ap.add_argument("--only", nargs="*", choices=["peak", "train", "score", "exact", "memory"],
                    help="run only these rows (peak is always measured)")
    ap.add_argument("--budget-s", type=float, default=480, help="stop starting rows after this many seconds")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(json.loads(Path(a.worker).read_text()))
    if a.prepare:
        print(json.dumps(prepare(a.prepare, a.tokenizer, a.pairs)))
        return

    import torch

    shape = TINY if a.tiny else FULL
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pairs = read_prepared(a.data)
    need = shape.batch * (shape.steps + 1)
    if len(pairs) < max(need, shape.score_pairs, 64):
        raise SystemExit(f"{a.data / PAIRS_FILE}: {len(pairs)} pairs, this run needs "
                         f"{max(need, shape.score_pairs, 64)}")
    card = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    header = {"device": card, "tiny": a.tiny, "versions": versions(), "shape": shape.__dict__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"rewardkit GPU check on {card} ({'tiny' if a.tiny else 'full'} shapes); {json.dumps(header['versions'])}",
          flush=True)
    table = Table(a.out, header, a.budget_s)
    only = set(a.only or ["peak", "train", "score", "exact", "memory"])
    t0 = time.perf_counter()

    peak = matmul_peak(device, 8192 if device == "cuda" else 1024)
    table.add(row("bf16 matmul peak (measured)", f"{peak / 1e12:.1f} TFLOP/s", peak_flops=peak))
    if "train" in only:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(a.data / TOKENIZER_DIR)
        tokens = real_tokens(tok, pairs[: shape.batch * shape.steps], shape.max_length)
        flop_token = 6 * non_embedding_params(shape.arch)
        table.header["train_work"] = {"pairs": shape.batch * shape.steps, "real_tokens": tokens,
                                      "flop_per_token": flop_token}
        training_rows(table, shape, a.data, device, tokens, peak, flop_token)
    if "score" in only:
        s = scoring_rows(shape, pairs, a.data / TOKENIZER_DIR, device)
        ratio = s["rewardkit_tok_s"] / s["plain_tok_s"]
        table.add(row("score: rewardkit RewardModel vs plain transformers loop (bf16)",
                      f"{s['rewardkit_tok_s']:,.0f} vs {s['plain_tok_s']:,.0f} tok/s = {ratio:.2f}x "
                      f"({s['sequences']} sequences)", f">= {GOALS['score_vs_plain']:.1f}x",
                      ratio >= GOALS["score_vs_plain"], ratio=ratio, **s))
    if "exact" in only:
        if device != "cuda":
            table.add(row("exact: CUDA fp32 and bf16 rewards vs CPU fp32", "", status="skipped: no CUDA"))
        else:
            e = exactness(shape, pairs, a.data / TOKENIZER_DIR, device)
            ok32 = e["fp32_max_diff_over_rms"] <= FP32_TOLERANCE
            ok16 = e["bf16_max_diff_over_rms"] <= e["bf16_bound"] and e["bf16_same_order_on_wide_margins"]
            table.add(row("exact: CUDA fp32 rewards vs CPU fp32",
                          f"max |diff| = {e['fp32_max_diff_over_rms']:.1e} x RMS",
                          f"<= {FP32_TOLERANCE:.0e} x RMS", ok32, **e))
            table.add(row("exact: CUDA bf16 rewards vs CPU fp32",
                          f"max |diff| = {e['bf16_max_diff_over_rms']:.3f} x RMS, order kept on "
                          f"{e['wide_margin_pairs']} wide-margin pairs: {e['bf16_same_order_on_wide_margins']}",
                          f"<= {e['bf16_bound']} x RMS", ok16, **e))
    if "memory" in only:
        gc.collect()
        reset_peak(device)  # the scoring rows' model and cached blocks out of the workers' way
        memory_rows(table, shape, a.data, device)
    table.header["seconds"] = time.perf_counter() - t0
    table.write()
    print(f"\n{card}, {table.header['seconds']:.0f} s\n" + markdown(table.rows), flush=True)


if __name__ == "__main__":
    main()
