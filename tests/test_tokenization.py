"""Tokenization rules: exactly one BOS, prompt cut from the left, long pairs flagged or dropped."""

from __future__ import annotations

import pytest
import torch
from tiny_models import VOCAB, tiny_llama, tiny_tokenizer

from rewardkit.models.loading import forward_scores
from rewardkit.data.pairs import PreferencePair
from rewardkit.models.tokenization import encode_conversation, encode_pair, special_wrapping

BOS, END, ASSISTANT = VOCAB["<s>"], VOCAB["<|end|>"], VOCAB["<|assistant|>"]
CONV = [{"role": "user", "content": "why is the sky blue"}, {"role": "assistant", "content": "because light scatter"}]


def _ids(words: str) -> list[int]:
    return [VOCAB[w] for w in words.split()]


def _score(model, ids):
    return forward_scores(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)).item()


def test_template_bos_plus_tokenizer_bos_gives_one_bos_and_a_different_score_than_two():
    tok = tiny_tokenizer(template_bos=True, adds_bos=True)
    naive = tok(tok.apply_chat_template(CONV, tokenize=False))["input_ids"]  # reward-bench #164
    assert naive[:2] == [BOS, BOS]
    ids = encode_conversation(tok, CONV).ids
    expected = [BOS] + _ids("<|user|> why is the sky blue <|end|> <|assistant|> because light scatter <|end|>")
    assert ids == expected == naive[1:]
    model = tiny_llama()
    with torch.no_grad():
        assert abs(_score(model, naive) - _score(model, ids)) > 1e-3


@pytest.mark.parametrize("template_bos,adds_bos", [(True, False), (False, True)])
def test_one_bos_whoever_writes_it(template_bos, adds_bos):
    ids = encode_conversation(tiny_tokenizer(template_bos=template_bos, adds_bos=adds_bos), CONV).ids
    assert ids[0] == BOS and ids.count(BOS) == 1


def test_no_bos_anywhere_adds_none():
    ids = encode_conversation(tiny_tokenizer(template_bos=False, adds_bos=False), CONV).ids
    assert BOS not in ids and ids[0] == VOCAB["<|user|>"]


def test_bert_without_template_gets_cls_and_sep_once():
    tok = tiny_tokenizer(bert=True)
    assert special_wrapping(tok) == ([VOCAB["[CLS]"]], [VOCAB["[SEP]"]])
    ids = encode_conversation(tok, CONV).ids
    assert ids[0] == VOCAB["[CLS]"] and ids[-1] == VOCAB["[SEP]"] and ids.count(VOCAB["[SEP]"]) == 1


def test_truncation_cuts_the_prompt_from_the_left_and_keeps_bos_and_response():
    tok = tiny_tokenizer()
    full = encode_conversation(tok, CONV)
    assert len(full.ids) == 13 and not full.truncated
    cut = encode_conversation(tok, CONV, max_length=8)
    # BOS + the last 3 prompt tokens + the 4-token response (content + <|end|>): 1 + 3 + 4 = 8
    assert cut.ids == [BOS] + _ids("blue <|end|> <|assistant|> because light scatter <|end|>") and cut.truncated
    assert encode_conversation(tok, CONV, max_length=13) == full


def test_response_longer_than_max_length_keeps_bos_and_the_response_beginning():
    cut = encode_conversation(tiny_tokenizer(), CONV, max_length=4)
    assert cut.ids == [BOS] + _ids("because light scatter") and cut.truncated


def test_max_length_smaller_than_the_special_tokens_is_an_error():
    with pytest.raises(ValueError, match="max_length=1"):
        encode_conversation(tiny_tokenizer(), CONV, max_length=1)


def _pair(prompt: str, chosen: str, rejected: str) -> PreferencePair:
    return PreferencePair([{"role": "user", "content": prompt}], chosen, rejected, source="test")


def test_pair_prompt_len_and_no_truncation():
    ep = encode_pair(tiny_tokenizer(), _pair("why is the sky blue", "because light scatter", "no"), max_length=None)
    assert ep.prompt_len == 9 and not ep.truncated  # BOS + 7 user-turn tokens + <|assistant|>
    assert ep.chosen_ids[:9] == ep.rejected_ids[:9] and ep.chosen_ids[9] != ep.rejected_ids[9]


def test_long_pair_is_truncated_identically_or_dropped_never_silently():
    tok = tiny_tokenizer()
    pair = _pair("please tell me about cats and dogs and the sky", "yes cats", "no the answer is dogs")
    ep = encode_pair(tok, pair, max_length=10)
    assert ep.truncated and len(ep.chosen_ids) <= 10 and len(ep.rejected_ids) <= 10
    # the longer response has 6 tokens incl. <|end|>, so both keep BOS + the same last 10-1-6 = 3 prompt tokens
    assert ep.rejected_ids == [BOS] + _ids("sky <|end|> <|assistant|> no the answer is dogs <|end|>")
    assert ep.chosen_ids == [BOS] + _ids("sky <|end|> <|assistant|> yes cats <|end|>")
    assert ep.prompt_len == 4
    assert encode_pair(tok, pair, max_length=10, on_long="drop") is None
    assert encode_pair(tok, pair, max_length=30, on_long="drop").truncated is False
    # The trap: plain right truncation (tokenizer truncation=True) keeps only the prompt of both
    # members, so chosen and rejected become the same sequence and the pair is a forced tie.
    model = tiny_llama()
    whole = encode_pair(tok, pair, max_length=None)
    right = [whole.chosen_ids[:10], whole.rejected_ids[:10]]
    with torch.no_grad():
        assert _score(model, right[0]) == _score(model, right[1])
        assert _score(model, ep.chosen_ids) != _score(model, ep.rejected_ids)


def test_bad_on_long_value():
    with pytest.raises(ValueError, match="on_long"):
        encode_pair(tiny_tokenizer(), _pair("hello", "yes", "no"), max_length=5, on_long="skip")
