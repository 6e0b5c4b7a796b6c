"""`rewardkit train RECIPE --dry-run` (training.dryrun, training.plan): every number derived by hand here.

The 8B and 27B backbones are built on the meta device from configs/models/ (no weights, no hub).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from rewardkit.recipe import load_recipe
from rewardkit.training import plan as P
from rewardkit.training.config import TrainRecipe
from rewardkit.training.dryrun import arch_of, build_meta_model, make_plan, read_launch

ROOT = Path(__file__).resolve().parents[1]
LLAMA8B = str(ROOT / "configs/models/meta-llama/Llama-3.1-8B-Instruct")
GEMMA27B = str(ROOT / "configs/models/google/gemma-2-27b-it")
R8B, R27B = ROOT / "recipes/skywork-llama3.1-8b.yaml", ROOT / "recipes/skywork-gemma2-27b.yaml"
ACC = ROOT / "configs/accelerate"

# Llama-3.1-8B by hand (config.json): one block = q, o 4096^2 each; k, v 4096 x 1024 each (8 KV heads x 128);
# gate, up, down 4096 x 14336 each; two RMSNorms of 4096.
L_BLOCK = 2 * 4096**2 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
L_EMB = 128256 * 4096
L_NONEMB = 32 * L_BLOCK + 4096 + 4096  # + final norm + the one-score head
L_TOTAL = L_NONEMB + L_EMB


def recipe(path: Path, *overrides: str) -> TrainRecipe:
    return load_recipe(path, TrainRecipe, list(overrides))


def opts(**kw) -> P.DryRunOptions:
    return P.DryRunOptions(dry_run=True, **kw)


def test_dry_run_of_the_8b_recipe_prints_memory_and_hours(tmp_path):
    from rewardkit.cli import app

    res = CliRunner().invoke(app, [
        "train", str(R8B), f"out_dir={tmp_path}", "--dry-run", "--accelerate-config", str(ACC / "deepspeed-zero3.yaml"),
        "--arch-config", LLAMA8B, "--assume-pairs", "80000", "--assume-pair-tokens", "2000"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "memory/GPU" in res.output and "hours/epoch" in res.output and "total/GPU" in res.output
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert not (tmp_path / "model").exists()  # nothing trained

    p = plan["parameters"]
    assert (p["total"], p["non_embedding"], p["trainable"]) == (L_TOTAL, L_NONEMB, L_TOTAL)
    # The model card's 8.03B is the causal LM: the 4,096-weight score head swapped for the LM head.
    assert p["as_causal_lm"] == L_TOTAL - 4096 + L_EMB
    assert abs(p["as_causal_lm"] / 8.03e9 - 1) < 0.005

    assert plan["batch"] == {"processes": 8, "micro_batch_size": 2, "accumulation": 8, "global_batch_size": 128,
                             "recipe_global_batch_size": 128}
    # ZeRO-3 in bf16: 2 (bf16 weight) + 2 (bf16 grad) + 12 (fp32 master + AdamW) = 16 bytes/param, 1/8 each.
    m, gib = plan["memory_gib_per_gpu"], 2**30
    assert m["weights"] == pytest.approx(2 * L_TOTAL / 8 / gib)
    assert m["gradients"] == pytest.approx(2 * L_TOTAL / 8 / gib)
    assert m["optimizer"] == pytest.approx(12 * L_TOTAL / 8 / gib)
    assert m["weights"] + m["gradients"] + m["optimizer"] == pytest.approx(16 * L_TOTAL / 8 / gib)
    # Activations with checkpointing: 32 fp32 block inputs (4 x 4096 bytes a token) + one block recomputed
    # (30h + 4 kv_dim + 8 I bytes a token for Llama's sdpa block) + the packed pairs' bool mask.
    tokens, row = 2 * 2 * 4096, 2 * 4096
    block = 30 * 4096 + 4 * 1024 + 8 * 14336
    assert m["activations_checkpointing"] == pytest.approx((32 * 4 * 4096 * tokens + block * tokens + 2 * row**2) / gib)
    assert m["activations_no_checkpointing"] == pytest.approx((32 * block * tokens + 2 * row**2) / gib)
    assert m["total_as_recipe"] == pytest.approx(m["total_checkpointing"])  # the recipe checkpoints

    # 80,000 pairs, 1% held out: 79,200 train, 618 whole steps of 128; hours = 6N x tokens / (8 x 989e12 x 0.4).
    d, t = plan["data"], plan["time"]
    assert (d["train_pairs"], d["val_pairs"], d["steps_per_epoch"]) == (79_200, 800, 618)
    assert t["flops_per_token"] == 6 * L_NONEMB
    hours = 6 * L_NONEMB * 618 * 128 * 2000 / (8 * 989e12 * 0.40) / 3600
    assert t["hours_per_epoch"] == pytest.approx(hours)
    assert f"{hours:.2f} h" in res.output


def test_the_27b_backbone_matches_the_model_card():
    model, _ = build_meta_model(recipe(R27B), GEMMA27B)
    arch = arch_of(model)
    assert next(model.parameters()).device.type == "meta"
    assert arch.params_lm_head == 0  # tied embeddings: the causal LM adds no output matrix
    assert abs(arch.params_causal_lm / 27.2e9 - 1) < 0.005
    assert (arch.hidden, arch.layers, arch.heads, arch.kv_heads, arch.head_dim) == (4608, 46, 32, 16, 128)
    assert arch.eager_attention and arch.softcapping and arch.norms_per_layer == 4


@pytest.mark.parametrize("config, machines, accumulation", [("deepspeed-zero3.yaml", 1, 8),
                                                            ("deepspeed-zero3-2x8.yaml", 2, 4)])
def test_batch_math_1x8_and_2x8_agrees_with_deepspeeds_accumulation(config, machines, accumulation):
    launch = read_launch(opts(accelerate_config=ACC / config))
    assert (launch["machines"], launch["per_machine"], launch["processes"]) == (machines, 8, 8 * machines)
    cfg = recipe(R8B)
    assert cfg.accumulation_steps(launch["processes"]) == accumulation == launch["deepspeed_accumulation"]
    assert P.batch_math(128, 2, accumulation, 8 * machines)["global_batch_size"] == 128
    sharding = launch["sharding"]
    assert sharding.params and sharding.grads and sharding.optimizer and sharding.bf16_weights


@pytest.mark.parametrize("config, machines", [("fsdp.yaml", 1), ("fsdp-2x8.yaml", 2)])
def test_fsdp_configs_fit_the_27b_recipe(config, machines):
    from rewardkit.training.dryrun import check_fsdp_wrap

    launch = read_launch(opts(accelerate_config=ACC / config))
    assert (launch["machines"], launch["processes"]) == (machines, 8 * machines)
    assert recipe(R27B).accumulation_steps(launch["processes"]) == 16 // machines
    assert launch["sharding"].params and not launch["sharding"].bf16_weights
    model, _ = build_meta_model(recipe(R27B), GEMMA27B)
    assert launch["fsdp_wrap"] is None  # FSDP2 keys: the block class comes from the model
    check_fsdp_wrap(model, launch["fsdp_wrap"], config)  # its _no_split_modules, Gemma2DecoderLayer, is in it


def test_every_accelerate_config_parses_and_counts_processes_over_all_machines():
    from accelerate.commands.config.config_args import load_config_from_file

    files = sorted(ACC.glob("*.yaml"))
    assert {f.name for f in files} >= {"fsdp.yaml", "fsdp-2x8.yaml", "deepspeed-zero3.yaml", "deepspeed-zero3-2x8.yaml"}
    for f in files:
        cfg = load_config_from_file(str(f))
        assert cfg.num_processes == 8 * cfg.num_machines, f.name  # accelerate counts all machines together
        assert yaml.safe_load(f.read_text())["mixed_precision"] == "bf16"


def test_an_inconsistent_launch_fails_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match=r"global_batch_size 100 is not a multiple of micro_batch_size 2 x 8"):
        make_plan(recipe(R8B, "global_batch_size=100"), opts(accelerate_config=ACC / "deepspeed-zero3.yaml"))
    # The 27B recipe (micro 1) needs accumulation 16 on 8 GPUs; the 8B's DeepSpeed config states 8.
    with pytest.raises(ValueError, match=r"gradient_accumulation_steps is 8, but .* = 16: set it to 16"):
        make_plan(recipe(R27B), opts(accelerate_config=ACC / "deepspeed-zero3.yaml"))
    # An FSDP config that names Gemma2DecoderLayer (an override of the model's own block class), used
    # for Llama, whose blocks are LlamaDecoderLayer.
    gemma_wrap = yaml.safe_load((ACC / "fsdp.yaml").read_text())
    gemma_wrap["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] = "Gemma2DecoderLayer"
    (tmp_path / "fsdp-gemma.yaml").write_text(yaml.safe_dump(gemma_wrap))
    with pytest.raises(ValueError, match=r"Gemma2DecoderLayer is not in this model; its decoder layer is LlamaDecoder"):
        make_plan(recipe(R8B), opts(accelerate_config=tmp_path / "fsdp-gemma.yaml", arch_config=LLAMA8B))
    with pytest.raises(ValueError, match="apply to a dry run only"):
        P.DryRunOptions(num_processes=8)
    with pytest.raises(ValueError, match="not both"):
        P.DryRunOptions(dry_run=True, accelerate_config=ACC / "fsdp.yaml", num_processes=8)


def test_lora_and_top_k_trainable_counts_and_flops():
    # LoRA r=16 on every linear: r x (in + out) per matrix, + the score head trained in full.
    per_block = 16 * ((4096 + 4096) * 2 + (4096 + 1024) * 2 + (4096 + 14336) * 3)
    lora = recipe(R8B, "lora={r: 16}")
    arch = arch_of(build_meta_model(lora, LLAMA8B)[0])
    assert arch.params_total == L_TOTAL and arch.params_trainable == 32 * per_block + 4096
    assert P.flops_per_token(arch, full_backward=True) == 4 * L_NONEMB + 2 * (32 * per_block + 4096)
    # Top 4 blocks + final norm + head; the backward stops at the lowest trainable block.
    top = arch_of(build_meta_model(recipe(R8B, "train_top_k_layers=4"), LLAMA8B)[0])
    trainable = 4 * L_BLOCK + 4096 + 4096
    assert top.params_trainable == trainable
    assert P.flops_per_token(top, full_backward=False) == 2 * L_NONEMB + 4 * trainable
    # Only the trainable parameters carry gradients and AdamW states (fp32: 4 + 8), the weights all (4).
    s = P.state_bytes(top, P.Sharding("fsdp FULL_SHARD", params=True, grads=True, optimizer=True), 8)
    assert s == {"weights": 4 * L_TOTAL / 8, "gradients": 4 * trainable / 8, "optimizer": 8 * trainable / 8}


def test_the_data_plan_reads_local_data_and_measures_tokens(tmp_path, tiny):
    from tiny_models import toy_pairs

    from rewardkit.data.io import write_pairs
    from rewardkit.data.split import split_pairs
    from rewardkit.training.data import encode_pairs
    from transformers import AutoTokenizer

    pairs = toy_pairs(40, seed=3)
    write_pairs(tmp_path / "p.jsonl", pairs)
    cfg = recipe(R8B, f"model={tiny}", f"data=['pairs:{tmp_path / 'p.jsonl'}']", "val_fraction=0.25",
                 "global_batch_size=8", "max_length=64")
    plan = make_plan(cfg, opts(num_processes=2))
    train, val = split_pairs(pairs, 0.25, 42)
    assert (plan["data"]["pairs"], plan["data"]["train_pairs"], plan["data"]["val_pairs"]) == (40, len(train), len(val))
    assert plan["data"]["steps_per_epoch"] == len(train) // 8 and plan["batch"]["accumulation"] == 2
    capped = make_plan(cfg.model_copy(update={"max_val_pairs": 3}), opts(num_processes=2))["data"]
    assert (capped["train_pairs"], capped["val_pairs"]) == (len(train), 3)  # validated on 3, as training would
    enc = encode_pairs(train, AutoTokenizer.from_pretrained(tiny), max_length=64, on_long="truncate").items
    packed = [len(e.chosen_ids) + len(e.rejected_ids) - e.prompt_len for e in enc]  # prompt sharing is on
    assert plan["model"]["prompt_sharing"]
    assert plan["data"]["pair_tokens"] == pytest.approx(sum(packed) / len(packed))
    # Unsharded DDP trains bf16 weights by default: bf16 weights (2) + bf16 grads (2) + fp32 masters and
    # AdamW (12), no autocast copy; with bf16_weights false, fp32 weights (4) + grads (4) + AdamW (8) and
    # autocast's bf16 copy (2) of every weight.
    n = plan["parameters"]["total"]
    assert plan["parameters"]["trainable"] == n
    for setting, per_param in ((None, 16), (False, 18)):
        m = make_plan(cfg.model_copy(update={"bf16_weights": setting}), opts(num_processes=2))["memory_gib_per_gpu"]
        assert (m["weights"] + m["gradients"] + m["optimizer"] + m["working_weights"]) * 2**30 == pytest.approx(per_param * n)
    with pytest.raises(ValueError, match="bf16_weights is for single-process and DDP runs; under FSDP"):
        make_plan(cfg.model_copy(update={"bf16_weights": True}), opts(accelerate_config=ACC / "fsdp.yaml"))


def _saved_bytes_per_token(make_config, tokens: int, checkpointing: bool = False) -> float:
    """Bytes autograd saves for the backward, per token, of one decoder block: the difference between a
    2-block and a 1-block model (weights and their bf16 casts left out), under bf16 autocast."""
    from transformers import AutoModelForSequenceClassification

    def saved(layers: int) -> int:
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_config(make_config(layers)).float().train()
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        weights = {p.data_ptr() for p in model.parameters()}
        shapes = {tuple(p.shape) for p in model.parameters()} | {tuple(p.shape[::-1]) for p in model.parameters()}
        seen: dict[int, int] = {}

        def pack(t):
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights and tuple(t.shape) not in shapes:
                seen[storage.data_ptr()] = storage.nbytes()
            return t

        ids = torch.randint(3, 200, (2, tokens // 2))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
            model(input_ids=ids)
        return sum(seen.values())

    return (saved(2) - saved(1)) / tokens


@pytest.mark.parametrize("kind", ["llama-sdpa", "llama-eager", "gemma2-eager"])
def test_the_activation_formula_matches_what_autograd_saves(kind):
    from transformers import Gemma2Config, LlamaConfig

    # Gemma-2 with heads x head_dim (4 x 48 = 192) != hidden (256), as the 27B has (32 x 128 != 4608).
    shape = dict(hidden_size=256, intermediate_size=704, num_attention_heads=4, num_key_value_heads=2,
                 vocab_size=256, num_labels=1, pad_token_id=0)
    if kind.startswith("llama"):
        def make(layers):
            return LlamaConfig(num_hidden_layers=layers, attn_implementation=kind.split("-")[1], **shape)
        head_dim, norms = 64, 2
    else:
        def make(layers):
            return Gemma2Config(num_hidden_layers=layers, head_dim=48, attn_implementation="eager", **shape)
        head_dim, norms = 48, 4
    arch = P.Arch(hidden=256, layers=1, heads=4, kv_heads=2, head_dim=head_dim, intermediate=704, vocab=256,
                  norms_per_layer=norms, eager_attention=kind.endswith("eager"), softcapping=kind.startswith("gemma2"),
                  params_total=0, params_embedding=0, params_layer=0, params_trainable=0, params_head=0,
                  params_lm_head=0)
    row = 160  # 2 x 160 tokens: no activation (viewed 2-D as [tokens, width]) shares a weight's shape
    measured = _saved_bytes_per_token(make, 2 * row)
    assert measured == pytest.approx(P.layer_activation_bytes(arch, row), rel=0.02)
    # With checkpointing a block keeps only its fp32 input: 4 bytes x hidden per token.
    assert _saved_bytes_per_token(make, 2 * row, checkpointing=True) == pytest.approx(4 * 256, rel=0.02)


def test_an_fsdp_wrap_check_with_nothing_to_wrap_says_so():
    """FSDP with no class named wraps the model's _no_split_modules; a model without them has nothing to
    wrap (make_plan runs this check for FSDP launches only)."""
    from rewardkit.errors import UserError
    from rewardkit.training.dryrun import check_fsdp_wrap

    class Plain(torch.nn.Module):
        _no_split_modules = None

    with pytest.raises(UserError, match="declares no _no_split_modules"):
        check_fsdp_wrap(Plain(), None, "fsdp.yaml")
    with pytest.raises(UserError, match="LlamaDecoderLayer is not in this model"):
        check_fsdp_wrap(Plain(), "LlamaDecoderLayer", "fsdp.yaml")
