"""The frozen-prefix cache (rewardkit.training.prefix) and `dtype: auto` (rewardkit.models.hardware).

The cache must change nothing but the speed: in fp32 on the tiny Llama (2 blocks, the top one trained),
the same rewards, losses and gradients with and without it, for both batch layouts; whole runs log the
same losses, fresh or resumed; and where the frozen part is not fixed, it is off and says why.
"""

import json

import pytest
import torch

from rewardkit.training.data import collate_concat, encode_pairs
from tiny_models import toy_pairs

EXACT = 1e-5
"""fp32, the same blocks from the same states: only the batch shapes differ (last-bit rounding)."""


def step_losses(out):
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in log if r["event"] == "step"}


@pytest.fixture(params=[(True, "llama"), (False, "llama"), (True, "gemma3"), (False, "gemma3")],
                ids=["packed fill", "row fill", "gemma3 packed fill", "gemma3 row fill"])
def frozen(request):
    """The tiny model (Llama, or Gemma-3 with a sliding-window block 0 and scaled embeddings) in fp32 with
    its lower block frozen, the encoded toy pairs, and their filled cache (filled from packed pairs with
    the prompt-sharing mask, or from separate rows: both layouts cut from either)."""
    from rewardkit.models.loading import load_reward_model
    from rewardkit.training.head import freeze_below_top_layers
    from rewardkit.training.prefix import PrefixStore, fill_prefix

    packed, backbone = request.param
    path = request.getfixturevalue("tiny" if backbone == "llama" else "tiny_gemma3")
    model, tok = load_reward_model(str(path), dtype="float32", seed=0, attn_implementation="sdpa")
    with torch.no_grad():  # a head that tells the pairs apart, so the rewards differ and the check has teeth
        model.score.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(3))
    enc = encode_pairs(toy_pairs(10, seed=7), tok, max_length=96, on_long="truncate")
    assert enc.counts.truncated > 0  # cut prompts included
    freeze_below_top_layers(model, 1)
    store = PrefixStore.allocate(enc.items, model.config.hidden_size, torch.float32, None)
    fill_prefix(model.eval(), store, enc.items, 1, tok.pad_token_id, shared=packed, batch_tokens=200)  # several batches
    return model, tok, enc, store


@pytest.mark.parametrize("shared", [True, False])
def test_cached_forward_gives_the_same_losses_and_gradients(frozen, shared):
    from rewardkit.losses import bradley_terry
    from rewardkit.training.forward import PairScorer, collate_shared

    model, tok, enc, store = frozen
    idx = [4, 0, 7, 2]
    collate = collate_shared if shared else collate_concat
    batch = collate([enc.items[i] for i in idx], tok.pad_token_id, multiple=8)
    cached = {**batch, "hidden": store.batch(idx, shared, multiple=8)}
    assert cached["hidden"].shape[:2] == batch["input_ids"].shape  # the layout and width of the collate

    def loss_and_grads(scorer, b):
        model.zero_grad(set_to_none=True)
        rc, rr = scorer(b)
        loss = bradley_terry(rc, rr).mean()
        loss.backward()
        return rc.detach(), rr.detach(), loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                                          if p.requires_grad}

    model.train()
    want = loss_and_grads(PairScorer(model), batch)
    got = loss_and_grads(PairScorer(model, prefix_block=1), cached)
    for w, g in zip(want[:3], got[:3]):
        torch.testing.assert_close(g, w, atol=EXACT, rtol=0)
    assert want[3].keys() == got[3].keys() and len(want[3]) > 3  # the top block, the norm, the head
    for name in want[3]:
        torch.testing.assert_close(got[3][name], want[3][name], atol=EXACT, rtol=1e-4, msg=name)
    assert (want[0] - want[1]).abs().max() > 1e-3


@pytest.mark.parametrize("shared", [True, False])
def test_cached_features_are_what_the_score_head_reads(frozen, shared):
    """The LP probe's features from the cache, times the head, are the rewards of the scorer without it."""
    from rewardkit.models.loading import forward_scores
    from rewardkit.training.prefix import cached_features

    model, tok, enc, store = frozen
    enc.prefix = store
    feats = cached_features(model.eval(), enc, 1, shared, tok.pad_token_id, batch_tokens=300)
    with torch.no_grad():
        full = forward_scores(model, **collate_concat(enc.items, tok.pad_token_id))  # [2N]: chosen, rejected
    head = model.score.weight.detach().double().numpy()[0]
    n = len(enc.items)
    torch.testing.assert_close(torch.from_numpy(feats[0::2] @ head).float(), full[:n], atol=EXACT, rtol=0)
    torch.testing.assert_close(torch.from_numpy(feats[1::2] @ head).float(), full[n:], atol=EXACT, rtol=0)


def _run(tiny, out, **over):
    from rewardkit.training import TrainConfig, train_from_config

    # lr 3e-4: at 3e-3 the tiny model's steps are chaotic, and fp32 rounding differences (1e-7, the
    # packed layout sums attention in another order) grew to 2e-5 in 6 steps on an AVX2-only CPU. At 3e-4
    # the runs stay within 4e-7 of each other, so EXACT tests the cache, not the CPU.
    cfg = TrainConfig(**{"model": str(tiny), "global_batch_size": 8, "micro_batch_size": 4, "lr": 3e-4, "epochs": 1,
                         "max_length": 96, "save_every": 100, "eval_every": 3, "seed": 5, "bf16": False,
                         "train_top_k_layers": 1, "scheduler": "constant", "warmup_ratio": 0.0, **over})
    train_from_config(cfg, out, train_pairs=toy_pairs(48, seed=10), val_pairs=toy_pairs(16, seed=11))
    return out


@pytest.mark.parametrize("sharing", [True, False])
def test_a_run_with_the_cache_logs_the_runs_losses(tiny, tmp_path, sharing):
    """LP-FT (probe head, step-0 validation from the probe's features) then 6 steps of the top block: the
    same step losses and validations with the cache as without; the log says the cache was on."""
    over = {"head_init": "probe", "prompt_sharing": sharing}
    plain = _run(tiny, tmp_path / "plain", prefix_cache=False, **over)
    cached = _run(tiny, tmp_path / "cached", prefix_cache=True, **over)
    a, b = step_losses(plain), step_losses(cached)
    assert len(a) == 6 and a.keys() == b.keys()
    assert max(abs(a[s] - b[s]) for s in a) <= EXACT
    logs = [[json.loads(x) for x in (r / "train_log.jsonl").read_text().splitlines()] for r in (plain, cached)]
    evals = [[(e["step"], e["accuracy"], e["loss"]) for e in log if e["event"] == "eval"] for log in logs]
    assert [s for s, _, _ in evals[0]] == [0, 3, 6] == [s for s, _, _ in evals[1]]
    for (_, acc_a, loss_a), (_, acc_b, loss_b) in zip(*evals):
        assert acc_a == acc_b and loss_a == pytest.approx(loss_b, abs=EXACT)
    start = [e for e in logs[1] if e["event"] == "start"][0]
    assert start["prefix_cache"]["on"] and start["prefix_cache"]["first_trained_block"] == 1
    assert [s["set"] for s in start["prefix_cache"]["stores"]] == ["train", "val"]
    assert not [e for e in logs[0] if e["event"] == "start"][0]["prefix_cache"]["on"]
    summary = json.loads((cached / "summary.json").read_text())
    assert {"prefix_train", "prefix_val", "features", "probe", "validation_0", "validation_6", "training"} <= set(summary["stage_seconds"])
    assert not (cached / "prefix_cache" / "train.bin").exists()  # removed at the end


def test_resume_with_the_cache_continues_the_uninterrupted_run(tiny, tmp_path):
    from rewardkit.training import TrainConfig, train_from_config

    over = {"save_every": 3, "eval_every": 100, "prefix_cache": True}
    full = _run(tiny, tmp_path / "full", max_steps=6, **over)
    part = _run(tiny, tmp_path / "part", max_steps=3, **over)
    cfg = TrainConfig(model=str(tiny), global_batch_size=8, micro_batch_size=4, lr=3e-4, epochs=1, max_length=96,
                      seed=5, bf16=False, train_top_k_layers=1, scheduler="constant", warmup_ratio=0.0,
                      max_steps=6, **over)
    train_from_config(cfg, part, resume=True, train_pairs=toy_pairs(48, seed=10), val_pairs=toy_pairs(16, seed=11))
    want, got = step_losses(full), step_losses(part)
    assert len(want) == 6 and got.keys() == want.keys()
    assert max(abs(want[s] - got[s]) for s in want) <= EXACT


def _reason(tiny, bf16_weights=True, **over):
    from rewardkit.models.loading import load_reward_model
    from rewardkit.training import TrainConfig
    from rewardkit.training.prefix import prefix_block

    model, _ = load_reward_model(str(tiny), dtype="float32", seed=0)
    cfg = TrainConfig(**{"model": str(tiny), "bf16": False, "train_top_k_layers": 1, **over})
    return prefix_block(cfg, model, processes=1, bf16_weights=bf16_weights)


def test_the_cache_is_off_with_a_reason_where_the_frozen_part_is_not_fixed(tiny):
    from rewardkit.training.config import LoraOptions

    assert _reason(tiny)[0] == 1
    assert _reason(tiny, train_top_k_layers=None) == (None, "every block trains (train_top_k_layers unset)")
    assert "LoRA" in _reason(tiny, lora=LoraOptions(r=2))[1]
    assert _reason(tiny, train_top_k_layers=2) == (None, "train_top_k_layers 2: the cache needs 1..1 trained blocks")
    assert "autocast" in _reason(tiny, bf16_weights=False, bf16=True)[1]
    with pytest.raises(ValueError, match="prefix_cache: true, but LoRA"):
        _reason(tiny, lora=LoraOptions(r=2), prefix_cache=True)


def test_dropout_in_a_frozen_block_turns_the_cache_off(tiny):
    from rewardkit.models.loading import load_reward_model
    from rewardkit.training import TrainConfig
    from rewardkit.training.prefix import prefix_block

    model, _ = load_reward_model(str(tiny), dtype="float32", seed=0)
    cfg = TrainConfig(model=str(tiny), bf16=False, train_top_k_layers=1)
    model.model.layers[0].self_attn.attention_dropout = 0.1
    assert prefix_block(cfg, model, processes=1, bf16_weights=False) == (
        None, "dropout in the frozen blocks makes their output random")
    model.model.layers[0].self_attn.attention_dropout = 0.0
    assert prefix_block(cfg, model, processes=2, bf16_weights=False)[0] is None


def test_architectures_whose_blocks_do_not_take_cached_states_are_off():
    from tiny_models import tiny_bert, tiny_gemma2

    from rewardkit.training import TrainConfig
    from rewardkit.training.prefix import prefix_block

    cfg = TrainConfig(bf16=False, train_top_k_layers=1, prefix_cache=None)
    for model in (tiny_gemma2(), tiny_bert()):
        start, why = prefix_block(cfg, model, processes=1, bf16_weights=False)
        assert start is None and "ArchSpec.blocks_take_embeds" in why


# ------------------------------------------------------------------ sliding-window layers (Gemma-3)
def _gemma3_scores(path, max_length: int):
    """Rewards of 6 toy pairs in the packed (prompt-sharing) layout and as separate sequences."""
    from rewardkit.models.loading import load_reward_model
    from rewardkit.training.forward import PairScorer, collate_shared

    model, tok = load_reward_model(str(path), dtype="float32", seed=0, attn_implementation="sdpa")
    with torch.no_grad():
        model.score.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(3))
    enc = encode_pairs(toy_pairs(6, seed=7), tok, max_length=max_length, on_long="truncate")
    with torch.no_grad():
        packed = PairScorer(model)(collate_shared(enc.items, tok.pad_token_id))
        separate = PairScorer(model)(collate_concat(enc.items, tok.pad_token_id))
    return model, enc, packed, separate


def test_a_sliding_window_shorter_than_max_length_turns_prompt_sharing_off(tiny_gemma3, tmp_path):
    """A packed row's mask reaches every layer as given, so a sliding-window layer sees past its window
    there and not in the separate sequence: the rewards differ (the trap), so sharing is refused for
    max_length beyond the window, and is exact within it."""
    from tiny_models import chatml_gemma3

    from rewardkit.training.forward import check_prompt_sharing, sliding_window, supports_prompt_sharing
    from rewardkit.training.prefix import PrefixStore, fill_prefix

    narrow = chatml_gemma3(tmp_path / "narrow", sliding_window=16)
    model, enc, packed, separate = _gemma3_scores(narrow, 96)
    assert sliding_window(model) == 16 and max(len(e.chosen_ids) for e in enc.items) > 16
    assert max((p - s).abs().max().item() for p, s in zip(packed, separate)) > 1e-3  # the trap is real
    assert not supports_prompt_sharing(model, 96) and supports_prompt_sharing(model, 16)
    with pytest.raises(ValueError, match="layers see 16 tokens back, and sequences of up to 96 tokens"):
        check_prompt_sharing(model, 96)
    longest = max(len(ids) for e in enc.items for ids in (e.chosen_ids, e.rejected_ids))
    store = PrefixStore.allocate(enc.items, model.config.hidden_size, torch.float32, None)
    with pytest.raises(ValueError, match=f"see 16 tokens back, and sequences of up to {longest} tokens"):
        fill_prefix(model.eval(), store, enc.items, 1, 0, shared=True)

    wide, _, packed, separate = _gemma3_scores(tiny_gemma3, 96)  # window 128: nothing is windowed
    assert sliding_window(wide) == 128 and supports_prompt_sharing(wide, 96)
    for p, s in zip(packed, separate):
        torch.testing.assert_close(p, s, atol=EXACT, rtol=0)


def test_a_gemma3_run_past_its_window_trains_unshared_and_cached(tmp_path):
    """prompt_sharing unset: off for max_length 96 over a 16-token window, and the cache (filled from
    separate rows) still gives the run without it; prompt_sharing: true is refused at setup."""
    from tiny_models import chatml_gemma3

    narrow = chatml_gemma3(tmp_path / "narrow", sliding_window=16)
    plain = _run(narrow, tmp_path / "plain", prefix_cache=False)
    cached = _run(narrow, tmp_path / "cached", prefix_cache=True)
    a, b = step_losses(plain), step_losses(cached)
    assert len(a) == 6 and max(abs(a[s] - b[s]) for s in a) <= EXACT
    start = [json.loads(x) for x in (cached / "train_log.jsonl").read_text().splitlines()][0]
    assert start["event"] == "start" and start["prompt_sharing"] is False and start["prefix_cache"]["on"]
    with pytest.raises(ValueError, match="sliding-window"):
        _run(narrow, tmp_path / "shared", prompt_sharing=True)


# ------------------------------------------------------------------ dtype: auto
@pytest.mark.parametrize("flags, cap, native", [
    (["amx_bf16", "avx512_bf16"], None, True),            # Sapphire Rapids
    (["avx512_bf16"], None, True),                         # AMD EPYC (Zen 4)
    ([], None, False),                                     # AVX-512 or AVX2 without bf16
    (["avx512_bf16"], "AVX2", False),                      # capped below the bf16 kernels
    (["amx_bf16", "avx512_bf16"], "AVX512_CORE", False),
    (["amx_bf16", "avx512_bf16"], "AVX512_CORE_BF16", True),
    (["avx512_bf16"], "NOT_AN_ISA", False),
])
def test_native_bf16_follows_the_cpu_flags_and_the_onednn_cap(flags, cap, native):
    from rewardkit.models.hardware import cpu_native_bf16, isa_cap

    got, why = cpu_native_bf16(flags, isa_cap({} if cap is None else {"ONEDNN_MAX_CPU_ISA": cap.lower()}))
    assert got is native and why
    if cap:
        assert cap in why


@pytest.mark.parametrize("flags, cap, want", [(["avx512_bf16"], None, torch.bfloat16),
                                              (["avx512_bf16"], "AVX2", torch.float32),
                                              ([], None, torch.float32)])
def test_auto_dtype_loads_and_trains_in_what_the_cpu_runs_natively(tiny, tmp_path, monkeypatch, flags, cap, want):
    from rewardkit.models import hardware
    from rewardkit.models.loading import load_reward_model

    monkeypatch.setattr(hardware, "cpu_bf16_flags", lambda: flags)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert load_reward_model(str(tiny), seed=0)[0].dtype == want  # dtype auto is the default
    assert load_reward_model(str(tiny), seed=0, dtype="float32")[0].dtype == torch.float32  # explicit: obeyed
    run = _run(tiny, tmp_path / "run", max_steps=1, train_top_k_layers=None, bf16=None)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dtype"]["dtype"] == str(want).removeprefix("torch.") and summary["dtype"]["reason"].startswith("auto: ")
    # bf16 asked for: obeyed; the probe's features and the cache come from a bf16 copy of the weights
    explicit = _run(tiny, tmp_path / "explicit", max_steps=1, bf16=True, head_init="probe")
    assert json.loads((explicit / "summary.json").read_text())["dtype"] == {"dtype": "bfloat16",
                                                                           "reason": "set in the recipe (bf16)"}
    start = json.loads((explicit / "train_log.jsonl").read_text().splitlines()[0])
    assert start["prefix_cache"]["on"] and {s["dtype"] for s in start["prefix_cache"]["stores"]} == {"bfloat16"}
