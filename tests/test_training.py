"""Training: batching, prompt sharing, the saved model, kill-and-resume and a real 2-process run.

Everything runs on a tiny random Llama (conftest.py's `tiny`, from tests/tiny_models.py) in fp32, so results
are exact.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rewardkit.data.io import write_pairs
from rewardkit.data.split import split_pairs
from rewardkit.training.data import encode_pairs, epoch_batches, micro_batches
from tiny_models import toy_pairs

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def tok(tiny):
    from rewardkit.models.loading import load_reward_model

    return load_reward_model(str(tiny), dtype="float32", seed=0)


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def step_losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_log(out) if r["event"] == "step"}


# ------------------------------------------------------------------ batching (pure)
def test_epoch_batches_cover_pairs_once_and_drop_only_the_tail():
    lengths = [(i * 37) % 101 + 5 for i in range(103)]
    batches = epoch_batches(lengths, 10, seed=1, epoch=0)
    flat = [i for b in batches for i in b]
    assert len(batches) == 10 and all(len(b) == 10 for b in batches)
    assert len(flat) == len(set(flat)) == 100  # 103 = 10 x 10 + a tail of 3 left to the next epoch
    assert all(lengths[b[k]] >= lengths[b[k + 1]] for b in batches for k in range(9))  # longest first


def test_length_grouping_groups_lengths_but_keeps_random_order():
    lengths = [(i * 7919) % 500 + 10 for i in range(400)]
    grouped = epoch_batches(lengths, 8, seed=0, epoch=0)
    plain = epoch_batches(lengths, 8, seed=0, epoch=0, grouped=False)

    def padded(batches):  # tokens the batches occupy when padded to their longest pair
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded(grouped) < 0.6 * padded(plain)  # similar lengths together: far less padding
    means = [sum(lengths[i] for i in b) / len(b) for b in grouped]
    rank = sorted(range(len(means)), key=means.__getitem__)
    n = len(rank)  # Spearman correlation of batch position vs batch length: near 0, not sorted
    rho = 1 - 6 * sum((pos - r) ** 2 for pos, r in enumerate(rank)) / (n * (n * n - 1))
    assert abs(rho) < 0.35
    assert grouped != epoch_batches(lengths, 8, seed=0, epoch=1)  # reshuffled every epoch
    assert grouped != epoch_batches(lengths, 8, seed=1, epoch=0)  # and with the seed
    assert grouped == epoch_batches(lengths, 8, seed=0, epoch=0)  # but a pure function of both


def test_micro_batches_split_a_global_batch_across_ranks():
    batch = list(range(12))  # global 12 = micro 3 x accumulation 2 x 2 ranks
    assert micro_batches(batch, 3, 2, 0) == [[0, 1, 2], [6, 7, 8]]
    assert micro_batches(batch, 3, 2, 1) == [[3, 4, 5], [9, 10, 11]]
    assert micro_batches(batch, 3, 1, 0) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]


def test_split_is_seeded_and_disjoint():
    pairs = toy_pairs(50)
    train, val = split_pairs(pairs, 0.1, seed=3)
    assert len(val) == 5 and len(train) == 45
    assert {p.id for p in train}.isdisjoint({p.id for p in val})
    assert [p.id for p in val] == [p.id for p in split_pairs(pairs, 0.1, seed=3)[1]]
    assert [p.id for p in val] != [p.id for p in split_pairs(pairs, 0.1, seed=4)[1]]


def test_held_out_takes_whole_groups_in_seeded_order_until_the_target():
    """By hand: keys a b a c b d (groups a=[0,2], b=[1,4], c=[3], d=[5] in order of first appearance);
    the groups shuffled by Random("split-7"); groups taken until round(0.5 x 6) = 3 items are held out."""
    from rewardkit.data.split import held_out

    order = ["a", "b", "c", "d"]
    random.Random("split-7").shuffle(order)
    members, expected = {"a": [0, 2], "b": [1, 4], "c": [3], "d": [5]}, []
    for key in order:
        if len(expected) >= 3:
            break
        expected += members[key]
    assert held_out(list("abacbd"), 0.5, 7) == sorted(expected)
    # one key per item: exactly round(frac x n) items, the first ones of the seeded shuffle of range(n)
    plain = list(range(10))
    random.Random("split-7").shuffle(plain)
    assert held_out(range(10), 0.3, 7) == sorted(plain[:3])


def test_split_by_prompt_holds_out_whole_prompts():
    pairs = toy_pairs(30, seed=3)
    for i, p in enumerate(pairs):  # 10 prompts x 3 pairs each
        p.prompt = [{"role": "user", "content": f"prompt {i % 10}"}]
    train, val = split_pairs(pairs, 0.2, seed=1, by="prompt")
    assert len(val) == 6 and len(train) == 24  # two whole prompts reach the 6-pair target
    assert not {p.prompt[0]["content"] for p in val} & {p.prompt[0]["content"] for p in train}
    assert split_pairs(pairs, 0.2, seed=1, by="prompt") == (train, val)


def test_truncated_and_dropped_counts(tok):
    _, tokenizer = tok
    pairs = toy_pairs(40, seed=2)
    full = encode_pairs(pairs, tokenizer, max_length=10_000, on_long="truncate")
    assert full.counts.as_dict() == {"pairs": 40, "kept": 40, "truncated": 0, "dropped": 0}
    longest = [max(len(e.chosen_ids), len(e.rejected_ids)) for e in full.items]
    limit = sorted(longest)[25]  # pairs with a conversation longer than this are the long ones
    n_long = sum(n > limit for n in longest)
    cut = encode_pairs(pairs, tokenizer, max_length=limit, on_long="truncate")
    assert cut.counts.as_dict() == {"pairs": 40, "kept": 40, "truncated": n_long, "dropped": 0}
    assert all(len(e.chosen_ids) <= limit and len(e.rejected_ids) <= limit for e in cut.items)
    drop = encode_pairs(pairs, tokenizer, max_length=limit, on_long="drop")
    assert drop.counts.as_dict() == {"pairs": 40, "kept": 40 - n_long, "truncated": 0, "dropped": n_long}


# ------------------------------------------------------------------ prompt sharing
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_prompt_sharing_gives_the_unshared_rewards(tiny, attn):
    from rewardkit.models.loading import forward_scores, load_reward_model
    from rewardkit.training.data import collate_concat
    from rewardkit.training.forward import collate_shared, shared_scores

    model, tokenizer = load_reward_model(str(tiny), dtype="float32", seed=0, attn_implementation=attn)
    enc = encode_pairs(toy_pairs(12, seed=7), tokenizer, max_length=96, on_long="truncate")
    assert enc.counts.truncated > 0  # cut prompts included
    with torch.no_grad():
        separate = forward_scores(model, **collate_concat(enc.items, tokenizer.pad_token_id))
        packed = collate_shared(enc.items, tokenizer.pad_token_id)
        rc, rr = shared_scores(model, packed)
    assert packed["input_ids"].numel() < 0.75 * 2 * max(len(e.chosen_ids) for e in enc.items) * 12
    torch.testing.assert_close(rc, separate[:12], atol=1e-5, rtol=0)
    torch.testing.assert_close(rr, separate[12:], atol=1e-5, rtol=0)
    assert (rc - rr).abs().max() > 1e-3  # a random head does tell the two apart: the check has teeth


# ------------------------------------------------------------------ a whole run in-process
def test_saved_model_loads_with_plain_transformers_and_scores_as_in_training(tiny, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardkit.evaluation.heldout import flags
    from rewardkit.models.tokenization import encode_pair
    from rewardkit.training import TrainConfig, train_from_config

    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=4, lr=3e-3, epochs=2, max_length=96,
                      eval_every=3, save_every=100, bf16=False, prompt_sharing=True, seed=5)
    val = toy_pairs(12, seed=11)
    model_dir = train_from_config(cfg, tmp_path / "run", train_pairs=toy_pairs(48, seed=10), val_pairs=val)

    log = read_log(tmp_path / "run")
    evals = [r for r in log if r["event"] == "eval"]
    best = max(evals, key=lambda r: (r["accuracy"], -r["loss"]))
    assert [r["step"] for r in evals] == [3, 6, 9, 12]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["best_step"] == best["step"]

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert model.config.num_labels == 1 and tokenizer.chat_template
    assert tokenizer.pad_token_id == model.config.pad_token_id != tokenizer.eos_token_id
    assert (model_dir / "model.safetensors").is_file()
    margins = []
    with torch.no_grad():
        for pair in val:  # one unpadded sequence at a time, the plain-transformers way
            enc = encode_pair(tokenizer, pair, max_length=96)
            rc, rr = (model(torch.tensor([ids])).logits[0, 0].item() for ids in (enc.chosen_ids, enc.rejected_ids))
            margins.append(rc - rr)
    # the best validation's mean margin, recomputed from the saved files
    assert sum(margins) / len(margins) == pytest.approx(best["margin"], abs=1e-5)
    assert sum(flags(margins)) / len(margins) == best["accuracy"]  # a tie would count ½
    assert yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())["prompt_sharing"] is True
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_unknown_recipe_key_is_rejected_by_name(tmp_path):
    from rewardkit.recipe import RecipeError, load_recipe
    from rewardkit.training import TrainRecipe

    path = tmp_path / "r.yaml"
    path.write_text("data: [pairs:x.jsonl]\nlearning_rate: 1e-5\n")
    with pytest.raises(RecipeError, match="learning_rate: unknown key"):
        load_recipe(path, TrainRecipe)
    path.write_text("data: [pairs:x.jsonl]\nloss: focal\nloss_params: {margin: 1.0}\n")
    with pytest.raises(RecipeError, match=r"loss_params \['margin'\] not accepted by focal"):
        load_recipe(path, TrainRecipe)
    path.write_text("data: [pairs:x.jsonl]\n")
    assert load_recipe(path, TrainRecipe, ["loss=hinge", "loss_params.margin=0.5"]).loss_params == {"margin": 0.5}


# ------------------------------------------------------------------ subprocess runs
def write_recipe(tmp_path: Path, tiny: Path, out: str, **over) -> Path:
    data = tmp_path / "pairs.jsonl"
    if not data.exists():
        write_pairs(data, toy_pairs(72, seed=21))
    recipe = {"model": str(tiny), "data": [f"pairs:{data}"], "val_fraction": 0.125, "out_dir": str(tmp_path / out),
              "global_batch_size": 4, "micro_batch_size": 2, "lr": 3e-3, "epochs": 1, "max_length": 96,
              "eval_every": 5, "save_every": 4, "bf16": False, "seed": 3, **over}
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run(cmd, **kw):
    proc = subprocess.run(cmd, env={**ENV, **kw.pop("env", {})}, capture_output=True, text=True, timeout=240, **kw)
    return proc


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_step_losses(tiny, tmp_path):
    child = [sys.executable, str(TESTS / "train_child.py")]
    full = run(child + [str(write_recipe(tmp_path, tiny, "full"))])
    assert full.returncode == 0, full.stderr[-3000:]
    killed_recipe = write_recipe(tmp_path, tiny, "killed")
    killed = run(child + [str(killed_recipe), "--kill-after-step", "10"])
    assert killed.returncode == -9  # SIGKILL, after the checkpoint at step 8 and a validation at 10
    assert not (tmp_path / "killed" / "model").exists()
    assert step_losses(tmp_path / "killed").keys() == set(range(1, 11))
    resumed = run(child + [str(killed_recipe), "resume=true"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    want, got = step_losses(tmp_path / "full"), step_losses(tmp_path / "killed")
    assert len(want) == 15 and got.keys() == want.keys()  # 63 train pairs // 4 = 15 steps
    assert max(abs(want[s] - got[s]) for s in want) <= 1e-6
    log = read_log(tmp_path / "killed")
    assert [r["step"] for r in log if r["event"] == "resume"] == [8]  # resumed from the step-8 checkpoint
    assert [r["step"] for r in log if r["event"] == "eval"] == [5, 10, 15]  # the log reads as one run
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "killed" / "model" / name).read_bytes() == (tmp_path / "full" / "model" / name).read_bytes()


@pytest.mark.slow
def test_two_process_gloo_run_matches_one_process(tiny, tmp_path):
    # Same global batch 4: one process x micro 2 x accumulation 2, vs two processes x micro 2 x 1.
    one = run([sys.executable, "-m", "rewardkit.cli", "train", str(write_recipe(tmp_path, tiny, "one"))])
    assert one.returncode == 0, one.stderr[-3000:]
    two = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rewardkit.cli", "train", str(write_recipe(tmp_path, tiny, "two"))],
              env={"ACCELERATE_USE_CPU": "true"})
    assert two.returncode == 0, two.stderr[-3000:]
    start = [r for r in read_log(tmp_path / "two") if r["event"] == "start"][0]
    assert start["world_size"] == 2 and start["accumulation"] == 1 and "MULTI_CPU" in start["distributed_type"]
    assert [r for r in read_log(tmp_path / "one") if r["event"] == "start"][0]["accumulation"] == 2
    a, b = step_losses(tmp_path / "one"), step_losses(tmp_path / "two")
    assert a.keys() == b.keys() and len(a) == 15
    # Tolerance 1e-5: the same micro-batches, but gradients summed in a different order (gloo
    # all-reduce vs local accumulation) differ in the last float32 bits, and 15 Adam steps at lr 3e-3
    # carry that forward.
    assert max(abs(a[s] - b[s]) for s in a) < 1e-5


def test_pipeline_stage_train_returns_the_model_dir(tiny, tmp_path):
    from rewardkit.pipeline import run as run_pipeline

    data = tmp_path / "pairs.jsonl"
    write_pairs(data, toy_pairs(24, seed=4))
    recipe = {"out_dir": str(tmp_path / "pipe"),
              "train": {"model": str(tiny), "data": [f"pairs:{data}"], "val_fraction": 0.25, "global_batch_size": 6,
                        "micro_batch_size": 3, "epochs": 1, "max_length": 96, "bf16": False}}
    (tmp_path / "pipe.yaml").write_text(yaml.safe_dump(recipe))
    results = run_pipeline(tmp_path / "pipe.yaml")
    assert results["train"] == {"model": tmp_path / "pipe" / "train" / "model"}
    start = read_log(tmp_path / "pipe" / "train")[0]
    assert start["train_pairs"]["pairs"] == 18 and start["val_pairs"]["pairs"] == 6 and start["total_steps"] == 3


def test_pipeline_decontaminates_data_named_in_the_train_section(tiny, tmp_path):
    """With a decontaminate stage, pairs the train section names itself are checked against the same
    benchmarks: the 4 pairs whose first user turn is a benchmark prompt never reach training. Without a
    curate stage the decontaminate stage itself checks them (no data of its own to check otherwise)."""
    from rewardkit.data.pairs import PreferencePair
    from rewardkit.pipeline import run as run_pipeline

    leaked = " ".join(f"word{k}" for k in range(9))  # 9 words: shares every 7-gram with the benchmark
    pairs = toy_pairs(20, seed=5) + [
        PreferencePair(prompt=[{"role": "user", "content": f"{leaked} {i}"}], chosen="the cat", rejected="dogs",
                       source="toy") for i in range(4)]
    data, bench = tmp_path / "pairs.jsonl", tmp_path / "bench.jsonl"
    write_pairs(data, pairs)
    write_pairs(bench, [PreferencePair(prompt=[{"role": "user", "content": leaked}], chosen="a", rejected="b",
                                       source="bench")])
    recipe = {"out_dir": str(tmp_path / "pipe"),
              "decontaminate": {"benchmark": [f"pairs:{bench}"]},
              "train": {"model": str(tiny), "data": [f"pairs:{data}"], "val_fraction": 0.0, "global_batch_size": 5,
                        "micro_batch_size": 5, "epochs": 1, "max_length": 96, "bf16": False}}
    (tmp_path / "pipe.yaml").write_text(yaml.safe_dump(recipe))
    run_pipeline(tmp_path / "pipe.yaml")
    removed = [json.loads(x) for x in (tmp_path / "pipe" / "decontaminate" / "removed.jsonl").read_text().splitlines()]
    assert sorted(r["prompt"] for r in removed) == [f"{leaked} {i}" for i in range(4)]
    assert {r["pair_id"] for r in removed} == {p.id for p in pairs[20:]}
    start = read_log(tmp_path / "pipe" / "train")[0]
    assert start["train_pairs"]["pairs"] == 20 and start["total_steps"] == 4


def test_lora_run_saves_the_adapters_merged_as_w_plus_scaled_ba(tiny, tmp_path):
    """The saved model is plain (no peft keys) and each adapted weight is exactly W + (alpha / r) B A, with
    W, A and B read from the run's last checkpoint; everything else is the backbone's or the trained head."""
    from safetensors.torch import load_file

    from rewardkit.training import TrainConfig, train_from_config
    from rewardkit.training.config import LoraOptions

    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=4, lr=1e-2, epochs=1, max_length=96,
                      val_fraction=0.0, bf16=False, save_every=2, lora=LoraOptions(r=4, alpha=8))
    model_dir = train_from_config(cfg, tmp_path / "lora", train_pairs=toy_pairs(16, seed=8), val_pairs=[])
    merged = load_file(model_dir / "model.safetensors")
    assert not any("lora" in k or "base_layer" in k for k in merged) and "score.weight" in merged
    # the PEFT model's state at the last step (2 steps: 16 pairs / 8), keyed by the plain module name
    ckpt = {k.split("base_model.model.", 1)[1]: v
            for k, v in load_file(tmp_path / "lora" / "checkpoints" / "step-2" / "model.safetensors").items()}
    base = load_file(tiny / "model.safetensors")
    adapted = sorted(k.removesuffix(".lora_A.default.weight") for k in ckpt if k.endswith(".lora_A.default.weight"))
    assert len(adapted) == 14  # all-linear: q, k, v, o, gate, up, down in each of 2 layers; never the head
    for m in adapted:
        w, a, b = (ckpt[f"{m}.{part}.weight"] for part in ("base_layer", "lora_A.default", "lora_B.default"))
        assert torch.equal(w, base[f"{m}.weight"])  # frozen: the backbone's own weight
        assert b.abs().max() > 0  # trained (LoRA starts B at zero, so W + BA would equal W)
        torch.testing.assert_close(merged[f"{m}.weight"], w + (8 / 4) * (b @ a), rtol=0, atol=1e-6)
    assert torch.equal(merged["score.weight"], ckpt["score.modules_to_save.default.weight"])  # head: trained in full
    rest = set(merged) - {f"{m}.weight" for m in adapted} - {"score.weight"}
    assert rest and all(torch.equal(merged[k], base[k]) for k in rest)  # embeddings and norms untouched


def test_a_fresh_run_into_a_used_out_dir_exports_its_own_best_not_an_earlier_runs(tiny, tmp_path):
    """An earlier, longer run leaves best-step-N with a higher N; without clearing, prune would keep it
    and the new run would export the old run's weights as its model."""
    from safetensors.torch import load_file

    from rewardkit.training import TrainConfig, train_from_config

    def go(steps: int, lr: float):
        cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=8, lr=lr, epochs=1,
                          max_steps=steps, max_length=96, eval_every=steps, save_every=100, bf16=False, seed=3)
        model_dir = train_from_config(cfg, tmp_path / "run", train_pairs=toy_pairs(48, seed=1),
                                      val_pairs=toy_pairs(8, seed=2))
        return load_file(model_dir / "model.safetensors")["score.weight"]

    first = go(4, 1e-2)
    second = go(2, 3e-3)
    assert not torch.equal(first, second)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["best-step-2"]


def test_resume_tolerates_a_log_line_cut_short_by_the_kill(tmp_path):
    from rewardkit.training.runlog import RunLog

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"event": "step", "step": 1}\n{"event": "step", "step": 2}\n{"event": "st')
    RunLog(tmp_path, enabled=True, resume_step=1)._file.close()
    assert log.read_text() == '{"event": "step", "step": 1}\n'
    log.write_text('{"event": "step", "step": 1}\nnot json\n')
    with pytest.raises(ValueError, match="not a JSON record"):
        RunLog(tmp_path, enabled=True, resume_step=1)


def test_per_pair_margin_from_meta(tiny, tmp_path):
    """margin_field feeds −log σ(Δ − m_i) with each pair's own m_i: equal meta margins give exactly the
    constant-margin run, different ones a different first-step loss; a missing margin names the pair."""
    from rewardkit.training import TrainConfig, train_from_config

    def first_loss(name: str, margins: list[float], **over) -> float:
        pairs = toy_pairs(8, seed=6)
        for p, m in zip(pairs, margins):
            p.meta["gap"] = m
        cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=8, lr=1e-3, epochs=1, max_steps=1,
                          max_length=96, val_fraction=0.0, bf16=False, seed=3, **over)
        train_from_config(cfg, tmp_path / name, train_pairs=pairs, val_pairs=[])
        return step_losses(tmp_path / name)[1]

    constant = first_loss("const", [0.0] * 8, loss_params={"margin": 2.0})
    assert first_loss("field", [2.0] * 8, margin_field="gap") == pytest.approx(constant, abs=1e-6)
    assert abs(first_loss("varied", [0.0, 4.0] * 4, margin_field="gap") - constant) > 1e-3
    with pytest.raises(ValueError, match=r"meta\['gap'\] must be a number"):
        first_loss("missing", [None] * 8, margin_field="gap")
    with pytest.raises(ValueError, match="margin_field needs a loss with a `margin`"):
        TrainConfig(model=str(tiny), loss="focal", margin_field="gap")


def test_the_loop_learns_a_learnable_preference(tiny, tmp_path):
    """Toy pairs prefer responses that start "the cat" over ones starting "dogs": a working loop (gradient
    reaching backbone and head through the score read at the last real token) separates held-out pairs."""
    from rewardkit.training import TrainConfig, train_from_config

    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=8, lr=3e-3, epochs=3, max_length=96,
                      eval_every=18, save_every=100, bf16=False, seed=1)
    train_from_config(cfg, tmp_path / "run", train_pairs=toy_pairs(48, seed=20), val_pairs=toy_pairs(32, seed=21))
    evals = [r for r in read_log(tmp_path / "run") if r["event"] == "eval"]
    assert evals[-1]["step"] == 18
    assert evals[-1]["accuracy"] >= 0.9 and evals[-1]["margin"] > 0  # a fresh head sits near 0.5


# ------------------------------------------------------------------ LP-FT (head_init: probe)
def _lpft_cfg(tiny, **over):
    from rewardkit.training import TrainConfig

    base = dict(model=str(tiny), global_batch_size=8, micro_batch_size=8, lr=3e-3, epochs=1, max_length=96,
                eval_every=100, save_every=100, bf16=False, seed=1, head_init="probe")
    return TrainConfig(**{**base, **over})


def test_validation_and_step_accuracy_count_a_tie_as_half():
    """Training's accuracy uses the held-out report's rule (`evaluation.heldout.ranked_right`): right 1,
    tie ½, wrong 0, so a constant scorer reads 50% in the learning curve as in the table, not 0% (ties as
    wrong) or 100% (ties as wins)."""
    from rewardkit.evaluation.heldout import flags, ranked_right

    rc, rr = torch.tensor([1.0, 0.0, 2.0, 3.0, -1.0]), torch.tensor([0.0, 0.0, 3.0, 3.0, -2.0])
    assert ranked_right(rc, rr).tolist() == [1.0, 0.5, 0.0, 0.5, 1.0] == flags((rc - rr).tolist())
    assert ranked_right(torch.zeros(6), torch.zeros(6)).mean().item() == 0.5


def test_validate_counts_a_tie_as_half():
    """validate itself (not only the helper): rewards (1, 0), (0, 0), (0, 1), (2, 2) -> accuracy
    (1 + ½ + 0 + ½) / 4 = 0.5, margins in validation order."""
    from types import SimpleNamespace

    from rewardkit.training.loop import validate

    rewards = [(1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (2.0, 2.0)]

    def pair_losses(val_set, idx, known=None):
        rc, rr = (torch.tensor([rewards[i][k] for i in idx]) for k in (0, 1))
        return torch.zeros(len(idx)), rc, rr

    run = SimpleNamespace(scorer=SimpleNamespace(eval=lambda: None, train=lambda: None),
                          val_set=SimpleNamespace(lengths=lambda: [5, 4, 3, 2]), cfg=SimpleNamespace(eval_batch_size=3),
                          world=1, rank=0, pair_losses=pair_losses,
                          accelerator=SimpleNamespace(device=torch.device("cpu"), reduce=lambda t, reduction: t))
    metrics, margins = validate(run)
    assert metrics["accuracy"] == 0.5 and metrics["pairs"] == 4
    assert margins == [1.0, 0.0, -1.0, 0.0]


def test_head_init_probe_starts_from_the_fitted_probe(tiny, tmp_path):
    """The head the run starts from is the probe fitted on the frozen features of its training pairs:
    the same fit done by hand gives the same weight, and the saved probe_model holds it."""
    from safetensors.torch import load_file

    from rewardkit.models.loading import load_reward_model
    from rewardkit.models.tokenization import encode_pair
    from rewardkit.probing.features import pair_rows, pooled_features, split_pairs_axis
    from rewardkit.probing.probe import ProbeOptions, fit_probe
    from rewardkit.training import train_from_config

    train, val = toy_pairs(32, seed=30), toy_pairs(16, seed=31)
    cfg = _lpft_cfg(tiny, max_steps=1, export_probe_model=True)
    train_from_config(cfg, tmp_path / "run", train_pairs=train, val_pairs=val)
    model, tok = load_reward_model(str(tiny), dtype="float32", seed=1)
    feats = [split_pairs_axis(pooled_features(model, pair_rows([encode_pair(tok, p, max_length=96) for p in ps]),
                                              tok.pad_token_id)["last"]) for ps in (train, val)]
    probe, _ = fit_probe(*feats[0], ProbeOptions(**cfg.head_probe.model_dump()), val=feats[1])
    head = load_file(tmp_path / "run" / "probe_model" / "model.safetensors")["score.weight"]
    np.testing.assert_allclose(head[0].numpy(), probe.weight, rtol=1e-4, atol=1e-6)
    log = read_log(tmp_path / "run")
    fitted = [r for r in log if r["event"] == "probe_head"][0]
    step0 = [r for r in log if r["event"] == "eval" and r["step"] == 0][0]
    assert step0["probe"] and step0["accuracy"] == pytest.approx(fitted["val_accuracy"])


def test_head_calibrate_rescales_the_probe_head_to_its_bradley_terry_scale(tiny, tmp_path):
    """The calibrated head is the plain run's probe head times bt_scale of its training margins: the same
    direction (the step-0 validation accuracy is the same), a loss at step 0 below the plain head's."""
    from safetensors.torch import load_file

    from rewardkit.models.loading import load_reward_model
    from rewardkit.models.tokenization import encode_pair
    from rewardkit.probing.features import pair_rows, pooled_features, split_pairs_axis
    from rewardkit.probing.probe import bt_scale
    from rewardkit.training import train_from_config

    train, val = toy_pairs(32, seed=30), toy_pairs(16, seed=31)
    runs = {}
    for name, calibrate in (("plain", False), ("calibrated", True)):
        cfg = _lpft_cfg(tiny, max_steps=1, export_probe_model=True, head_calibrate=calibrate)
        train_from_config(cfg, tmp_path / name, train_pairs=train, val_pairs=val)
        log = read_log(tmp_path / name)
        runs[name] = (load_file(tmp_path / name / "probe_model" / "model.safetensors")["score.weight"][0],
                      [r for r in log if r["event"] == "probe_head"][0],
                      [r for r in log if r["event"] == "eval" and r["step"] == 0][0])
    (w0, fit0, eval0), (w1, fit1, eval1) = runs["plain"], runs["calibrated"]
    assert fit0["scale"] == 1.0 and fit1["scale"] > 1.0  # an early-stopped head's margins are small
    torch.testing.assert_close(w1, w0 * fit1["scale"], rtol=1e-5, atol=1e-7)
    # the scale, by hand: bt_scale of the plain head's margins on the frozen features of the training pairs
    model, tok = load_reward_model(str(tiny), dtype="float32", seed=1)
    rows = pair_rows([encode_pair(tok, p, max_length=96) for p in train])
    xc, xr = split_pairs_axis(pooled_features(model, rows, tok.pad_token_id)["last"])
    assert fit1["scale"] == pytest.approx(bt_scale((xc - xr) @ w0.double().numpy()), rel=1e-4)
    assert eval1["accuracy"] == eval0["accuracy"] and eval1["loss"] < eval0["loss"]


def test_export_probe_model_without_a_probe_head_is_refused(tiny):
    with pytest.raises(ValueError, match="export_probe_model needs head_init: probe"):
        _lpft_cfg(tiny, head_init="random", export_probe_model=True)
    with pytest.raises(ValueError, match="head_calibrate needs head_init: probe"):
        _lpft_cfg(tiny, head_init="random", head_calibrate=True)
    with pytest.raises(ValueError, match="needs loss bradley_terry without a margin"):
        _lpft_cfg(tiny, head_calibrate=True, loss="hinge")


def test_top_k_layers_freezes_the_rest_and_head_lr_multiplier_scales_the_head(tiny, tmp_path):
    from safetensors.torch import load_file

    from rewardkit.training import train_from_config

    before = load_file(tiny / "model.safetensors")
    cfg = _lpft_cfg(tiny, head_init="random", train_top_k_layers=1, max_steps=2, val_fraction=0.0)
    model_dir = train_from_config(cfg, tmp_path / "top1", train_pairs=toy_pairs(16, seed=8), val_pairs=[])
    after = load_file(model_dir / "model.safetensors")
    frozen = [k for k in before if k.startswith(("model.embed_tokens", "model.layers.0."))]
    trained = [k for k in before if k.startswith(("model.layers.1.", "model.norm"))]
    assert frozen and trained
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in trained)
    start = [r for r in read_log(tmp_path / "top1") if r["event"] == "start"][0]
    per_layer = sum(v.numel() for k, v in before.items() if k.startswith("model.layers.1."))
    assert start["trainable_parameters"] == per_layer + 32 + 32  # top block, final norm, head [1, 32]

    from rewardkit.training.setup import _setup_optimizer
    from rewardkit.models.loading import load_reward_model

    model, _ = load_reward_model(str(tiny), dtype="float32", seed=0)
    opt, _ = _setup_optimizer(_lpft_cfg(tiny, head_lr_multiplier=10.0, lr=1e-3), model, 10)
    lrs = {id(p): g["initial_lr"] for g in opt.param_groups for p in g["params"]}
    assert lrs[id(model.score.weight)] == pytest.approx(1e-2)
    assert lrs[id(model.model.layers[0].mlp.up_proj.weight)] == pytest.approx(1e-3)


def test_lp_ft_learns_a_learnable_preference_with_an_interval_above_chance(tiny, tmp_path):
    """Probe head, then fine-tuning of the top block: on 64 held-out toy pairs the fine-tuned model's
    95% Wilson interval lies above 50%, and every cell of the per-source report (model, probe, length;
    per source and "all") is the accuracy and Wilson interval of its own per-pair margins, counted by hand."""
    from rewardkit.evaluation.heldout import wilson
    from rewardkit.training import train_from_config
    from rewardkit.training.summary import TrainSummary

    val = toy_pairs(64, seed=41)
    for i, p in enumerate(val):  # two sources, so the per-source split of the report is checked too
        p.source = "even" if i % 2 == 0 else "odd"
    cfg = _lpft_cfg(tiny, epochs=2, eval_every=6, train_top_k_layers=1, head_lr_multiplier=1.0)
    train_from_config(cfg, tmp_path / "run", train_pairs=toy_pairs(48, seed=40), val_pairs=val)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    typed = TrainSummary.read(tmp_path / "run" / "summary.json")  # the stage's contract, read back whole
    assert typed.model_dump(mode="json", exclude_unset=True) == summary and typed.heldout["all"]["model"].pairs == 64
    report, margins = summary["heldout"], summary["heldout_margins"]
    assert margins["ids"] == [p.id for p in val] and len(margins["model"]) == len(margins["probe"]) == 64
    columns = {"model": margins["model"], "probe": margins["probe"],
               "length_baseline": [len(p.chosen) - len(p.rejected) for p in val]}
    groups = {"even": range(0, 64, 2), "odd": range(1, 64, 2), "all": range(64),
              "rejected longer": [i for i, p in enumerate(val) if len(p.rejected) > len(p.chosen)]}
    assert groups["rejected longer"]  # the toy pairs have some, so that row is checked too
    assert set(report) == set(groups)
    for source, idx in groups.items():
        assert set(report[source]) == set(columns)
        for name, col in columns.items():
            right = sum(1.0 if col[i] > 0 else 0.5 if col[i] == 0 else 0.0 for i in idx)
            cell = report[source][name]
            assert cell["pairs"] == len(idx) and cell["accuracy"] == pytest.approx(right / len(idx))
            assert cell["ci95"] == pytest.approx(list(wilson(right, len(idx))))
    row = report["all"]
    evals = [r for r in read_log(tmp_path / "run") if r["event"] == "eval"]
    assert row["probe"]["accuracy"] == pytest.approx(evals[0]["accuracy"]) and evals[0]["probe"]  # step 0
    assert row["model"]["accuracy"] == pytest.approx(summary["best_val_accuracy"])  # the restored best's margins
    assert row["model"]["ci95"][0] > 0.5
    assert row["model"]["accuracy"] >= row["probe"]["accuracy"] - 1e-9 or row["probe"]["ci95"][0] > 0.5
    vs = summary["heldout_vs_probe"]
    assert set(vs) == set(report) and vs["all"]["prompts"] == 64  # toy pairs: one prompt each
    for source in vs:
        assert vs[source]["diff"] == pytest.approx(report[source]["model"]["accuracy"] - report[source]["probe"]["accuracy"])
        assert vs[source]["ci95"][0] <= vs[source]["diff"] <= vs[source]["ci95"][1]
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 0


def test_resumed_lp_ft_run_still_reports_model_versus_probe(tiny, tmp_path):
    """A resumed run does not refit the probe; the final report still compares the model with the probe's
    step-0 margins (saved in probe_margins.json), the same ones the uninterrupted run reports."""
    from rewardkit.training import train_from_config

    train, val = toy_pairs(32, seed=50), toy_pairs(16, seed=51)
    over = dict(scheduler="constant", warmup_ratio=0.0, save_every=2, eval_every=2, train_top_k_layers=1)
    train_from_config(_lpft_cfg(tiny, max_steps=4, **over), tmp_path / "full", train_pairs=train, val_pairs=val)
    train_from_config(_lpft_cfg(tiny, max_steps=2, **over), tmp_path / "part", train_pairs=train, val_pairs=val)
    train_from_config(_lpft_cfg(tiny, max_steps=4, **over), tmp_path / "part", resume=True, train_pairs=train,
                      val_pairs=val)
    full, part = (json.loads((tmp_path / run / "summary.json").read_text()) for run in ("full", "part"))
    assert part["heldout_margins"]["probe"] == full["heldout_margins"]["probe"] is not None
    assert part["heldout_vs_probe"]["all"]["diff"] == pytest.approx(full["heldout_vs_probe"]["all"]["diff"], abs=1e-9)
    assert part["heldout"]["all"]["probe"] == full["heldout"]["all"]["probe"]
    # a fresh run without a probe into the same folder leaves no stale baseline behind
    train_from_config(_lpft_cfg(tiny, max_steps=2, head_init="random", **over), tmp_path / "part",
                      train_pairs=train, val_pairs=val)
    assert not (tmp_path / "part" / "probe_margins.json").exists()
    assert "heldout_vs_probe" not in json.loads((tmp_path / "part" / "summary.json").read_text())


def test_versus_probe_resamples_whole_prompts():
    """Model − probe with a paired bootstrap over prompts. Prompt A's 4 pairs: the model right, the probe
    wrong; prompt B's 4: both wrong. diff = 4/8. Resampling the 2 prompts draws AA (diff 1, p = ¼), AB
    (½) or BB (0, p = ¼), so the 95% interval is exactly [0, 1]; resampling the 8 pairs as if independent
    would put all-A draws at 1/256 and the upper bound below 1."""
    from types import SimpleNamespace

    from rewardkit.data.pairs import PreferencePair
    from rewardkit.evaluation.heldout import versus_probe

    def pair(prompt, k, source):
        return PreferencePair(prompt=[{"role": "user", "content": prompt}], chosen=f"yes {k}", rejected=f"no {k}",
                              source=source)

    pairs = [pair("A", k, "s1" if k < 2 else "s2") for k in range(4)] + [pair("B", k, "s2") for k in range(4)]
    out = versus_probe(SimpleNamespace(pairs=pairs), [1.0] * 4 + [-1.0] * 4, [-1.0] * 8)
    assert out["all"] == {"diff": 0.5, "ci95": [0.0, 1.0], "prompts": 2}
    assert out["s1"] == {"diff": 1.0, "ci95": None, "prompts": 1} and out["s2"]["prompts"] == 2  # one unit: no spread
    assert out["s2"]["diff"] == pytest.approx(2 / 6)
    tie = versus_probe(SimpleNamespace(pairs=pairs), [0.0] * 8, [-1.0] * 8)["all"]  # a tie counts ½
    assert tie["diff"] == 0.5 and tie["ci95"] == [0.5, 0.5]


def test_wilson_interval_by_hand():
    from rewardkit.evaluation.heldout import wilson

    # p = 0.8, n = 100, z = 1.96: centre (0.8 + 0.019208)/1.038415 = 0.78887; half 1.96·sqrt(0.0016 + 0.0000960)/1.038415 = 0.07773
    lo, hi = wilson(80, 100)
    assert lo == pytest.approx(0.71115, abs=1e-4) and hi == pytest.approx(0.86660, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_a_summary_without_held_out_pairs_writes_no_held_out_fields(tmp_path):
    """summary.json (training.summary.TrainSummary): a run without validation pairs writes the ten run
    fields, best_val_accuracy null, and none of the held-out ones; read back, it is the same model."""
    from rewardkit.training.summary import TrainSummary

    s = TrainSummary(model="m", steps=3, best_step=-1, best_val_accuracy=None, pairs_seen=24, tokens_seen=100,
                     train_seconds_this_process=1.5, world_size=1, train_pairs={"pairs": 8, "kept": 8},
                     val_pairs={"pairs": 0, "kept": 0})
    s.write(tmp_path / "summary.json")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert list(written) == ["model", "steps", "best_step", "best_val_accuracy", "pairs_seen", "tokens_seen",
                             "train_seconds_this_process", "world_size", "train_pairs", "val_pairs"]
    assert written["best_val_accuracy"] is None and TrainSummary.read(tmp_path / "summary.json") == s
