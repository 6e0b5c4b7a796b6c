"""One forward pass for a micro-batch of pairs -> (r_chosen [B], r_rejected [B]), in fp32.

Two layouts, same rewards:
- concatenated (default): 2B rows, chosen then rejected, right-padded; scores read by
  `rewardkit.models.loading.forward_scores` at each row's last real token.
- prompt sharing: B rows, each [prompt | chosen response | rejected response]. A 4D mask lets the
  rejected response see the prompt and itself but not the chosen response, and its position ids
  restart at the prompt's length, so every token sees exactly what it would see in its own sequence;
  the prompt's tokens are computed once instead of twice. Scores are read at the two response ends.
  Needs a decoder with a `score` head and an attention kernel that takes a custom 4D mask (eager, sdpa).

`PairScorer` wraps the HF model as one nn.Module so that accelerate/DDP/FSDP/DeepSpeed wrap *it*: the
backbone is then always called through the distributed wrapper's forward, which gradient sync needs.
"""

from __future__ import annotations

import torch
from torch import nn

from rewardkit.models.loading import arch_spec, forward_scores, run_backbone, score_head, unwrap_peft
from rewardkit.data.batching import pad_right
from rewardkit.models.tokenization import EncodedPair

PROMPT, CHOSEN, REJECTED, PAD = 0, 1, 2, 3


def shared_prompt_len(e: EncodedPair) -> int:
    """The prompt tokens a packed row computes once: both sequences' common prefix as encoded (a sequence
    cut short inside the prompt shares only what it has)."""
    return min(e.prompt_len, len(e.chosen_ids), len(e.rejected_ids))


def collate_shared(items: list[EncodedPair], pad_id: int, multiple: int = 1) -> dict[str, torch.Tensor]:
    """B pairs -> packed input_ids [B, T], segments [B, T], position_ids [B, T], chosen_end [B],
    rejected_end [B] (T = longest packed row, P + |chosen response| + |rejected response|, rounded up to
    `multiple`: TrainConfig.pad_to_multiple)."""
    rows, segs, poss, c_end, r_end = [], [], [], [], []
    for e in items:
        c, r = e.chosen_ids, e.rejected_ids
        p = shared_prompt_len(e)
        rows.append(c + r[p:])
        segs.append([PROMPT] * p + [CHOSEN] * (len(c) - p) + [REJECTED] * (len(r) - p))
        poss.append(list(range(len(c))) + list(range(p, len(r))))
        c_end.append(len(c) - 1)
        # a rejected response with no tokens of its own (r is a prefix of c) ends inside the prompt
        r_end.append(len(c) + len(r) - p - 1 if len(r) > p else p - 1)
    return {
        "input_ids": pad_right(rows, pad_id, multiple=multiple)[0],
        "segments": pad_right(segs, PAD, multiple=multiple)[0],
        "position_ids": pad_right(poss, 0, multiple=multiple)[0],
        "chosen_end": torch.tensor(c_end),
        "rejected_end": torch.tensor(r_end),
    }


def shared_mask(segments: torch.Tensor) -> torch.Tensor:
    """segments [B, T] -> allowed [B, 1, T, T] (bool, True = query may attend to key).

    Causal, minus: nothing attends to padding, and rejected-response queries never see chosen-response
    keys (chosen queries cannot see rejected keys anyway: they come later). Padding queries attend to
    themselves only, so no softmax row is empty (an all-masked row gives NaN).
    """
    t = segments.shape[1]
    idx = torch.arange(t, device=segments.device)
    causal = idx[None, :] <= idx[:, None]  # [T(q), T(k)]
    q, k = segments[:, :, None], segments[:, None, :]  # [B, T, 1], [B, 1, T]
    allowed = causal & (k != PAD) & (q != PAD) & ~((q == REJECTED) & (k == CHOSEN))
    allowed |= (q == PAD) & torch.eye(t, dtype=torch.bool, device=segments.device)
    return allowed[:, None]


def mask_for_kernel(allowed: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """The 4D mask in the form the kernel adds or selects with: sdpa takes bool; eager adds a float
    mask (0 where allowed, the dtype's minimum elsewhere); others (flash) take no custom mask."""
    if attn_implementation == "sdpa":
        return allowed
    if attn_implementation == "eager":
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)
    raise ValueError(f"prompt_sharing needs attn_implementation eager or sdpa, not {attn_implementation!r}")


def sliding_window(model) -> int | None:
    """How far back the model's sliding-window layers see (tokens), or None when every layer sees the whole
    sequence (Llama; Qwen2 with use_sliding_window false: its layer_types say so)."""
    config = model.config
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if not window or (types is not None and "sliding_attention" not in types):
        return None
    return int(window)


def check_prompt_sharing(model, max_length: int | None = None) -> None:
    """Fail at setup, not mid-run, when a model cannot take packed pairs. A packed row's 4D mask is used by
    every layer as given, so a sliding-window layer would see the whole packed prompt where the separate
    sequence it must equal is windowed: exact only while no sequence is longer than the window."""
    if arch_spec(model).readout != "last" or getattr(model, "score", None) is None:
        raise ValueError(f"prompt_sharing needs a decoder with a `score` head; {type(model).__name__} "
                         "reads a pooled first token")
    mask_for_kernel(torch.ones(1, 1, 1, 1, dtype=torch.bool), model.config._attn_implementation, torch.float32)
    window = sliding_window(model)
    if window is not None and (max_length is None or max_length > window):
        raise ValueError(f"prompt_sharing: {model.config.model_type}'s sliding-window layers see {window} tokens "
                         f"back, and sequences of up to {max_length} tokens run past that, where a packed row "
                         f"would not be windowed like the separate sequence; use max_length <= {window} or "
                         "prompt_sharing: false")


def supports_prompt_sharing(model, max_length: int | None = None) -> bool:
    try:
        check_prompt_sharing(model, max_length)
    except ValueError:
        return False
    return True


def shared_scores(model, batch: dict[str, torch.Tensor], prefix_block: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of packed pairs (see `collate_shared`), or of either layout with `prefix_block` (see
    `pair_ends`): (r_chosen [B], r_rejected [B]), fp32."""
    chosen, rejected = pair_ends(model, batch, prefix_block)
    scores = score_head(model)(torch.cat([chosen, rejected]))[:, 0].float()
    return scores[: len(chosen)], scores[len(chosen):]


def pair_ends(model, batch: dict[str, torch.Tensor], prefix_block: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The final hidden states the score head reads: (chosen [B, H], rejected [B, H]), for a batch of either
    layout. With `prefix_block` s, batch["hidden"] holds the states entering block s (the frozen-prefix
    cache, rewardkit.training.prefix) and only blocks s.. run."""
    prefix = None if prefix_block is None else (prefix_block, batch["hidden"])
    if "segments" in batch:
        dtype = next(model.parameters()).dtype
        mask = mask_for_kernel(shared_mask(batch["segments"]), model.config._attn_implementation, dtype)
        hidden = run_backbone(model, batch["input_ids"], mask, position_ids=batch["position_ids"],
                              prefix=prefix).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return hidden[rows, batch["chosen_end"]], hidden[rows, batch["rejected_end"]]
    # concatenated rows, right-padded (collate_concat): causal, so no padding mask (ArchSpec.causal)
    hidden = run_backbone(model, batch["input_ids"], None, prefix=prefix).last_hidden_state  # [2B, T, H]
    ends = hidden[torch.arange(hidden.shape[0], device=hidden.device), batch["attention_mask"].sum(dim=1) - 1]
    half = ends.shape[0] // 2
    return ends[:half], ends[half:]


class PairScorer(nn.Module):
    """The trained module: the HF reward model, scoring a micro-batch of pairs in one forward.
    `prefix_block`: with the frozen-prefix cache, the batches carry the hidden states entering this block."""

    def __init__(self, model: nn.Module, prefix_block: int | None = None):
        super().__init__()
        self.model = model
        self.prefix_block = prefix_block

    @property
    def _no_split_modules(self) -> list[str] | None:
        """The HF model's block classes: FSDP's TRANSFORMER_BASED_WRAP shards one unit per block by default."""
        return getattr(self.hf_model(), "_no_split_modules", None)

    def hf_model(self) -> nn.Module:
        """The plain transformers model (under peft: the base model with its adapters injected)."""
        return unwrap_peft(self.model)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        model = self.hf_model()
        if "segments" in batch or "hidden" in batch:
            return shared_scores(model, batch, self.prefix_block if "hidden" in batch else None)
        scores = forward_scores(model, batch["input_ids"], batch["attention_mask"])  # [2B]
        half = scores.shape[0] // 2
        return scores[:half], scores[half:]
