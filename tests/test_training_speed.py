"""The training speed settings: what each promises, on tiny models, checked by hand or against
the path it replaces. Run also under ONEDNN_MAX_CPU_ISA=AVX2: nothing here may depend on AMX.

- bf16_weights: fp32 master weights keep AdamW updates that bf16 weights alone round away; they survive a
  checkpoint; a run's per-step losses and final pair orderings stay close to the autocast path.
- optimizer_impl: fused / foreach / for-loop AdamW give the same steps.
- pad_to_multiple: padding is masked, so the rewards do not move.
- compile: compiled blocks train like eager ones and export the same model directory.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rewardkit.training.data import collate_concat, encode_pairs
from rewardkit.training.precision import attach_master_weights, master_copies
from tiny_models import toy_pairs


def step_losses(out: Path) -> dict[int, float]:
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in log if r["event"] == "step"}


def bf16_param_and_optimizer(lr: float, value: float = 1.0):
    """A bf16 parameter [4] of `value` with an AdamW (no decay) over its fp32 master."""
    p = torch.nn.Parameter(torch.full((4,), value))
    groups, pairs = master_copies([{"params": [p], "weight_decay": 0.0}])
    p.data = p.data.to(torch.bfloat16)
    opt = torch.optim.AdamW(groups, lr=lr)
    attach_master_weights(opt, pairs)
    return p, opt, pairs[0][1]


def adam_steps(p, opt, n: int, grad: float = 0.5) -> None:
    for _ in range(n):
        p.grad = torch.full_like(p, grad)
        opt.step()
        opt.zero_grad(set_to_none=True)


# ------------------------------------------------------------------ bf16 weights, fp32 masters
def test_master_weights_keep_the_updates_a_bf16_weight_rounds_away():
    # Adam with a constant gradient g: m̂ = g, v̂ = g², so each update is lr·g/(|g| + eps) = lr (to 2e-8).
    p, opt, master = bf16_param_and_optimizer(lr=1e-3)
    adam_steps(p, opt, 5)
    assert master.dtype == torch.float32 and p.dtype == torch.bfloat16
    torch.testing.assert_close(master, torch.full((4,), 1 - 5e-3), atol=1e-7, rtol=0)
    # bf16 has 8 significant bits: below 1.0 its spacing is 2^-8, so 0.995 rounds to 1 - 2^-8 = 0.99609375
    assert p.tolist() == [0.99609375] * 4
    assert p.grad is None and master.grad is None  # moved to the master at the step, then freed

    plain = torch.nn.Parameter(torch.ones(4, dtype=torch.bfloat16))  # what bf16 weights alone would do:
    opt = torch.optim.AdamW([plain], lr=1e-3, weight_decay=0.0)
    adam_steps(plain, opt, 5)
    assert plain.tolist() == [1.0] * 4  # 1 - 1e-3 rounds back to 1.0 at every step: the updates vanish


def test_master_weights_survive_a_state_dict_round_trip():
    p, opt, master = bf16_param_and_optimizer(lr=1e-3)
    adam_steps(p, opt, 3)
    state = opt.state_dict()
    q, opt2, master2 = bf16_param_and_optimizer(lr=1e-3, value=7.0)  # a fresh run, different weights
    q.data.copy_(p.data)  # as accelerate restores the model's own (bf16) weights first
    opt2.load_state_dict(state)
    assert torch.equal(master2, master) and torch.equal(q, p)
    assert master2.tolist() != q.float().tolist()  # the low bits only the master holds came back
    adam_steps(p, opt, 2)
    adam_steps(q, opt2, 2)
    assert torch.equal(master2, master) and torch.equal(q, p)


def tiny_run(tiny, out: Path, **over) -> Path:
    from rewardkit.training import TrainConfig, train_from_config

    cfg = TrainConfig(**{"model": str(tiny), "global_batch_size": 8, "micro_batch_size": 4, "lr": 3e-3,
                         "epochs": 2, "max_length": 96, "save_every": 100, "eval_every": 100, "seed": 5, **over})
    train_from_config(cfg, out, train_pairs=toy_pairs(48, seed=10), val_pairs=toy_pairs(24, seed=11))
    return out


def test_bf16_weights_track_the_autocast_run(tiny, tmp_path):
    """bf16 weights vs autocast over fp32 weights, 12 steps at a high lr (3e-3) on the tiny model: the
    first 4 steps' losses within 0.01 (seen: <= 0.0075), all 12 within 0.15 (seen: 0.092; two bf16
    roundings of a fast-moving run drift apart, as bf16 and fp32 do), both learn, and the final models
    order >= 22 of the 24 held-out pairs the same way (seen: 24)."""
    auto = tiny_run(tiny, tmp_path / "autocast", bf16_weights=False)
    bf16w = tiny_run(tiny, tmp_path / "bf16w", bf16_weights=True)
    a, b = step_losses(auto), step_losses(bf16w)
    assert a.keys() == b.keys() and len(a) == 12
    assert max(abs(a[s] - b[s]) for s in range(1, 5)) <= 0.01
    assert max(abs(a[s] - b[s]) for s in a) <= 0.15
    assert a[12] < a[1] - 0.05 and b[12] < b[1] - 0.05  # both learn: closeness is not two flat lines

    def margins(run):
        return json.loads((run / "summary.json").read_text())["heldout_margins"]["model"]

    same = sum((x > 0) == (y > 0) for x, y in zip(margins(auto), margins(bf16w)))
    assert same >= 22


def test_bf16_weights_resume_continues_the_uninterrupted_run(tiny, tmp_path):
    """Stop at step 3 (checkpoint), resume to step 6: the same losses as one 6-step run, because the
    checkpoint carries the fp32 masters (resuming from the bf16 weights alone would drift)."""
    over = {"bf16_weights": True, "scheduler": "constant", "warmup_ratio": 0.0, "save_every": 3, "epochs": 1}
    full = tiny_run(tiny, tmp_path / "full", max_steps=6, **over)
    part = tiny_run(tiny, tmp_path / "part", max_steps=3, **over)
    from rewardkit.training import TrainConfig, train_from_config

    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=4, lr=3e-3, max_length=96,
                      eval_every=100, seed=5, max_steps=6, **over)
    train_from_config(cfg, part, resume=True, train_pairs=toy_pairs(48, seed=10), val_pairs=toy_pairs(24, seed=11))
    want, got = step_losses(full), step_losses(part)
    assert len(want) == 6 and got.keys() == want.keys()
    assert max(abs(want[s] - got[s]) for s in want) <= 1e-6


# ------------------------------------------------------------------ optimizer implementations
def test_fused_foreach_and_for_loop_adamw_give_the_same_steps(tiny, tmp_path):
    # lr 3e-4: at tiny_run's 3e-3 the steps are chaotic and fused's other rounding order (1e-7) grew to
    # 1.7e-5 by step 12 on an AVX2-only CPU; at 3e-4 the implementations stay within 2e-7.
    runs = {impl: step_losses(tiny_run(tiny, tmp_path / impl, bf16=False, optimizer_impl=impl, lr=3e-4))
            for impl in ("for_loop", "foreach", "fused")}
    ref = runs["for_loop"]
    for impl in ("foreach", "fused"):
        assert max(abs(runs[impl][s] - ref[s]) for s in ref) <= 1e-5, impl


# ------------------------------------------------------------------ regional torch.compile
def test_compiled_blocks_train_like_eager_and_export_the_same_model(tiny, tmp_path, monkeypatch):
    """compile: true in fp32 on the LP-FT path (probe head, frozen lower block, a validation every step,
    so training, frozen, no_grad and eval graphs all meet the blocks' one recompile budget): every block
    compiled and no call fell back to eager (dynamo raises instead), the per-step losses equal eager's
    to float rounding (fusion reorders sums), and the exported directory has eager's tensor names (no
    `_orig_mod.`), loads in plain transformers and scores like eager's."""
    from safetensors.torch import load_file
    from torch._dynamo.utils import counters
    from transformers import AutoModelForSequenceClassification

    from rewardkit.models.loading import decoder_layers
    from rewardkit.training import setup as setup_module

    over = dict(bf16=False, max_steps=3, epochs=1, head_init="probe", train_top_k_layers=1, eval_every=1)
    eager = tiny_run(tiny, tmp_path / "eager", **over)
    compiled_blocks = []
    real = setup_module._compile_blocks

    def spy(model):
        real(model)
        compiled_blocks.extend(block._compiled_call_impl is not None for block in decoder_layers(model))

    monkeypatch.setattr(setup_module, "_compile_blocks", spy)
    monkeypatch.setattr(torch._dynamo.config, "fail_on_recompile_limit_hit", True)
    torch._dynamo.reset()
    counters.clear()
    compiled = tiny_run(tiny, tmp_path / "compiled", compile=True, **over)
    assert compiled_blocks and all(compiled_blocks)
    assert counters["stats"]["unique_graphs"] >= 2  # forward and validation graphs at least
    a, b = step_losses(eager), step_losses(compiled)
    assert len(a) == 3 and a.keys() == b.keys()
    assert max(abs(a[s] - b[s]) for s in a) <= 1e-4
    assert a[1] == pytest.approx(b[1], abs=1e-5)  # the same probe head and batch before any update

    wa, wb = (load_file(run / "model" / "model.safetensors") for run in (eager, compiled))
    assert wa.keys() == wb.keys() and not any("_orig_mod" in k for k in wb)
    ids = torch.tensor([[5, 9, 13, 2, 7, 11]])
    scores = [AutoModelForSequenceClassification.from_pretrained(run / "model")(input_ids=ids).logits[0, 0].item()
              for run in (eager, compiled)]
    assert scores[0] == pytest.approx(scores[1], abs=1e-3)


# ------------------------------------------------------------------ padding to a multiple
@pytest.mark.parametrize("sharing", [True, False])
def test_pad_to_multiple_leaves_the_rewards_unchanged(tiny, sharing):
    from rewardkit.models.loading import load_reward_model
    from rewardkit.training.forward import PairScorer, collate_shared

    model, tok = load_reward_model(str(tiny), dtype="float32", seed=0, attn_implementation="sdpa")
    enc = encode_pairs(toy_pairs(6, seed=7), tok, max_length=96, on_long="truncate")
    collate = collate_shared if sharing else collate_concat
    batch, padded = collate(enc.items, tok.pad_token_id), collate(enc.items, tok.pad_token_id, multiple=64)
    t = batch["input_ids"].shape[1]
    assert padded["input_ids"].shape[1] == -(-t // 64) * 64 > t
    assert all(v.shape == padded["input_ids"].shape for k, v in padded.items() if v.ndim == 2)
    scorer = PairScorer(model)
    with torch.no_grad():
        (rc, rr), (pc, pr) = scorer(batch), scorer(padded)
    torch.testing.assert_close(pc, rc, atol=1e-5, rtol=0)
    torch.testing.assert_close(pr, rr, atol=1e-5, rtol=0)
    assert (rc - rr).abs().max() > 1e-3


@pytest.mark.parametrize("sharing", [True, False])
def test_no_kv_cache_is_built_in_training_scoring_or_feature_forwards(tiny, sharing, monkeypatch):
    """A reward model never generates, but a decoder's config asks for a KV cache (use_cache), which it
    fills in every forward that does not say otherwise: a copy of each layer's keys and values, and under
    torch.compile per-layer state that made every block recompile. Each forward rewardkit runs says no."""
    import transformers.models.llama.modeling_llama as llama

    from rewardkit.models.loading import load_reward_model
    from rewardkit.probing.features import pair_rows, pooled_features
    from rewardkit.training.forward import PairScorer, collate_shared
    from rewardkit.training.prefix import PrefixStore, cached_features, fill_prefix

    model, tok = load_reward_model(str(tiny), dtype="float32", seed=0)
    assert model.config.use_cache  # the config still asks (an export keeps it as the backbone had it)
    enc = encode_pairs(toy_pairs(4, seed=7), tok, max_length=96, on_long="truncate")
    with torch.no_grad():  # the reference: plain transformers, one unpadded sequence at a time (a cache built)
        want = [model(input_ids=torch.tensor([ids])).logits[0, 0].item()
                for ids in [e.chosen_ids for e in enc.items] + [e.rejected_ids for e in enc.items]]

    def no_cache(*a, **k):
        raise AssertionError("a KV cache was built")

    monkeypatch.setattr(llama, "DynamicCache", no_cache)
    with pytest.raises(AssertionError, match="KV cache"):  # the trap is live: a plain call builds one
        model(input_ids=torch.tensor([[5, 6, 7]]))
    collate = collate_shared if sharing else collate_concat
    with torch.no_grad():  # training's forward (and, concatenated, scoring's forward_scores): the same rewards
        rc, rr = PairScorer(model)(collate(enc.items, tok.pad_token_id))
    torch.testing.assert_close(torch.cat([rc, rr]), torch.tensor(want), atol=1e-5, rtol=0)
    feats = pooled_features(model, pair_rows(enc.items), tok.pad_token_id)["last"]  # LP / feature cache
    head = model.score.weight[0].detach().numpy()
    in_row_order = [w for pair in zip(want[:4], want[4:]) for w in pair]  # pair_rows: chosen, rejected, ...
    np.testing.assert_allclose(feats @ head, in_row_order, atol=1e-5)  # the score head has no bias
    # the frozen-prefix cache: the states entering block 1, then block 1 alone (training and LP features)
    store = PrefixStore.allocate(enc.items, model.config.hidden_size, torch.float32, None)
    fill_prefix(model, store, enc.items, 1, tok.pad_token_id, shared=sharing)
    enc.prefix = store
    with torch.no_grad():
        rc, rr = PairScorer(model, 1)({**collate(enc.items, tok.pad_token_id), "hidden": store.batch(range(4), sharing)})
    torch.testing.assert_close(torch.cat([rc, rr]), torch.tensor(want), atol=1e-5, rtol=0)
    feats = cached_features(model, enc, 1, sharing, tok.pad_token_id)
    np.testing.assert_allclose(feats @ head, in_row_order, atol=1e-5)


@pytest.mark.parametrize("bf16, setting, engine, want", [
    (True, None, "NO", True), (True, None, "MULTI_CPU", True), (True, None, "FSDP", False),
    (True, None, "DEEPSPEED", False), (False, None, "NO", False), (False, True, "NO", False),
    (True, False, "NO", False), (True, True, "MULTI_CPU", True)])
def test_bf16_weights_default_is_on_except_where_a_sharding_engine_owns_precision(bf16, setting, engine, want):
    from types import SimpleNamespace

    from rewardkit.training import TrainConfig
    from rewardkit.training.setup import _bf16_weights

    acc = SimpleNamespace(distributed_type=SimpleNamespace(name=engine))
    assert _bf16_weights(TrainConfig(bf16=bf16, bf16_weights=setting), acc) is want


@pytest.mark.parametrize("engine", ["FSDP", "DEEPSPEED"])
def test_bf16_weights_required_under_a_sharding_engine_is_refused(engine):
    from types import SimpleNamespace

    from rewardkit.training import TrainConfig
    from rewardkit.training.setup import _bf16_weights

    with pytest.raises(ValueError, match=f"under {engine} use its mixed-precision setting"):
        _bf16_weights(TrainConfig(bf16_weights=True), SimpleNamespace(distributed_type=SimpleNamespace(name=engine)))
