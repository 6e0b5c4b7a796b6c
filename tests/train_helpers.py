"""Shared by the training tests: a tiny random Llama with a ChatML tokenizer, and toy pairs.

The tokenizer is a byte-level BPE trained in milliseconds on a few sentences, with SmolLM2's special
tokens and chat template and its pad == EOS trap (load_reward_model must fix it). The model has 2 layers
of width 32, so training steps take milliseconds and tests stay offline.
"""

from __future__ import annotations

import random
from pathlib import Path

from rewardkit.data.pairs import PreferencePair

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
WORDS = ("the cat sat on a mat while dogs ran far away from home because rain fell hard all day and "
         "nobody knew why birds sang so loudly near old trees with green leaves").split()


def make_tiny_llama(dest: Path, *, seed: int = 0, vocab_words=WORDS) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    dest = Path(dest)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([" ".join(vocab_words)] * 4 + ["user assistant system Human said"], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                   unk_token="<|endoftext|>", additional_special_tokens=specials)
    fast.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


def toy_pairs(n: int, *, seed: int = 0, max_words: int = 30) -> list[PreferencePair]:
    """Random multi-turn pairs of varied length; chosen responses mention "cat", rejected ones "dogs"
    (a learnable signal)."""
    rng = random.Random(seed)

    def text(k):
        return " ".join(rng.choice(WORDS) for _ in range(k))

    pairs = []
    for i in range(n):
        prompt = [{"role": "user", "content": text(rng.randint(3, max_words))}]
        if rng.random() < 0.3:
            prompt += [{"role": "assistant", "content": text(rng.randint(2, 8))},
                       {"role": "user", "content": text(rng.randint(2, 8))}]
        pairs.append(PreferencePair(prompt=prompt, chosen="the cat " + text(rng.randint(1, max_words // 2)),
                                    rejected="dogs " + text(rng.randint(1, max_words // 2)),
                                    source="toy", source_id=str(i)))
    return pairs
