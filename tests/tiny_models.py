"""The tests' one kit of tiny random models, tokenizers and toy pairs: fast, offline, built from configs.

- `tiny_llama`, `tiny_bert`, `tiny_gemma2`: in-memory sequence classifiers (2 layers, width 32) over the
  word-level `tiny_tokenizer`; `tiny_tokenizer(template_bos=True, adds_bos=True)` reproduces the
  duplicated-BOS setup of reward-bench #164 (a chat template that writes `{{ bos_token }}` and a tokenizer
  that adds BOS again).
- `tiny_backbone_dir(path, kind)`: a saved backbone *without* a score head, like the GGUF cache. kind
  "chatml" is the training tests' model: a byte-level BPE trained in milliseconds with SmolLM2's special
  tokens, chat template and pad == EOS trap (load_reward_model must fix it); conftest.py's `tiny` fixture
  saves one per session. `chatml_gemma3(path, sliding_window=w)`: the same with a Gemma-3 backbone.
- `toy_pairs(n)`: random multi-turn pairs with a learnable signal.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "[CLS]", "[SEP]"]
WORDS = ("a b c d e f g h i j k l m n o p q r s t u v w x y z hello world why sky blue because light "
         "scatter good bad answer question the is it yes no please tell me about cats dogs").split()
VOCAB = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}

TEMPLATE = ("{% if add_bos %}{{ bos_token }}{% endif %}{% for m in messages %}<|{{ m['role'] }}|> "
            "{{ m['content'] }} <|end|> {% endfor %}")


def tiny_tokenizer(*, template_bos: bool = True, adds_bos: bool = True, pad: str | None = "<pad>", bert: bool = False):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel(VOCAB, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if bert:
        tk.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", VOCAB["[CLS]"]), ("[SEP]", VOCAB["[SEP]"])])
    elif adds_bos:
        tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", VOCAB["<s>"])])
    kw = dict(unk_token="<unk>", additional_special_tokens=SPECIALS[4:8])
    if bert:
        kw.update(cls_token="[CLS]", sep_token="[SEP]", pad_token="<pad>")
    else:
        kw.update(bos_token="<s>", eos_token="</s>", pad_token=pad)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, **kw)
    if not bert:
        tok.chat_template = TEMPLATE.replace("add_bos", "true" if template_bos else "false")
    return tok


TINY_SHAPE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2)
"""The one tiny decoder shape (2 layers, width 32, 4 heads, 2 KV heads)."""


def llama_config(vocab_size: int, **kw):
    """A Llama of TINY_SHAPE; `kw` sets ids and positions."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, **TINY_SHAPE, **kw)


def tiny_llama(seed: int = 0, **overrides):
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(seed)
    cfg = llama_config(len(VOCAB), max_position_embeddings=256, num_labels=1, pad_token_id=VOCAB["<pad>"],
                       bos_token_id=VOCAB["<s>"], eos_token_id=VOCAB["</s>"], **overrides)
    return LlamaForSequenceClassification(cfg).eval()


def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=128, num_labels=1, pad_token_id=0,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(cfg).eval()


def tiny_gemma2(seed: int = 0):
    from transformers import Gemma2Config, Gemma2ForSequenceClassification

    torch.manual_seed(seed)
    cfg = Gemma2Config(vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
                       num_labels=1, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return Gemma2ForSequenceClassification(cfg).eval()


def save_tiny(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_backbone_dir(path, kind: str = "llama", seed: int = 0):
    """A saved backbone *without* a score head (like the GGUF cache), plus its tokenizer. kind: "llama"
    (word-level tokenizer, pad == EOS as SmolLM2 ships), "chatml" (ChatML BPE tokenizer, see
    `chatml_tokenizer`), "gemma2" or "bert" (dropout 0.1, as MiniLM ships)."""
    from transformers import BertModel, Gemma2ForCausalLM, LlamaForCausalLM

    if kind == "chatml":
        return _chatml_llama(path, seed=seed)
    if kind == "llama":
        cfg = tiny_llama().config
        model = LlamaForCausalLM(cfg)
        tok = tiny_tokenizer(pad="</s>")  # pad == EOS, as SmolLM2 ships
    elif kind == "gemma2":
        model = Gemma2ForCausalLM(tiny_gemma2().config)
        tok = tiny_tokenizer()
    else:
        cfg = tiny_bert().config
        cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.1
        model = BertModel(cfg)
        tok = tiny_tokenizer(bert=True)
    return save_tiny(model, tok, path)


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TOY_WORDS = ("the cat sat on a mat while dogs ran far away from home because rain fell hard all day and "
             "nobody knew why birds sang so loudly near old trees with green leaves").split()


def chatml_tokenizer():
    """A byte-level BPE trained in milliseconds, with SmolLM2's special tokens, ChatML template and
    pad == EOS == <|im_end|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([" ".join(TOY_WORDS)] * 4 + ["user assistant system Human said"], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                   unk_token="<|endoftext|>", additional_special_tokens=specials)
    fast.chat_template = CHATML
    return fast


def _save_chatml(dest: Path, model_class, make_config, seed: int) -> Path:
    """A tiny causal backbone (no score head) with `chatml_tokenizer`, saved to `dest`; `make_config(vocab_size,
    **ids)` builds its config."""
    dest = Path(dest)
    fast = chatml_tokenizer()
    torch.manual_seed(seed)
    config = make_config(len(fast), max_position_embeddings=1024, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, bos_token_id=None, tie_word_embeddings=False)
    model_class(config).save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


def _chatml_llama(dest: Path, *, seed: int = 0) -> Path:
    """tiny_backbone_dir(dest, "chatml"): a saved tiny causal Llama (no score head) with `chatml_tokenizer`."""
    from transformers import LlamaForCausalLM

    return _save_chatml(dest, LlamaForCausalLM, llama_config, seed)


def chatml_gemma3(dest: Path, *, sliding_window: int, seed: int = 0) -> Path:
    """A saved tiny causal Gemma-3 (no score head) with `chatml_tokenizer`: block 0 a sliding-window layer
    (`sliding_window` tokens back), block 1 full attention, as Gemma-3 interleaves them."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    def make_config(vocab_size, **ids):
        return Gemma3TextConfig(vocab_size=vocab_size, **TINY_SHAPE, head_dim=8, sliding_window=sliding_window,
                                layer_types=["sliding_attention", "full_attention"], **ids)

    return _save_chatml(dest, Gemma3ForCausalLM, make_config, seed)


def toy_pairs(n: int, *, seed: int = 0, max_words: int = 30) -> list:
    """Random multi-turn PreferencePairs of varied length; chosen responses start "the cat", rejected ones
    "dogs" (a learnable signal)."""
    from rewardkit.data.pairs import PreferencePair

    rng = random.Random(seed)

    def text(k):
        return " ".join(rng.choice(TOY_WORDS) for _ in range(k))

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
